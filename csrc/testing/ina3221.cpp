#include "ina3221.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <sys/prctl.h>

#include "core/clock.hpp"

namespace edgepower {

namespace {
constexpr double kShuntLsbV = 40e-6;  // 40 uV
constexpr double kBusLsbV = 8e-3;     // 8 mV
constexpr int kFieldWidth = 11;       // fixed-width text: pwrite in place never changes the size

const double kConversionTimes[] = {140e-6, 204e-6, 332e-6, 588e-6, 1.1e-3, 2.116e-3, 4.156e-3, 8.244e-3};
const int kAverages[] = {1, 4, 16, 64, 128, 256, 512, 1024};

void check_conversion(const char* what, double s) {
  for (double v : kConversionTimes) {
    if (std::fabs(s - v) < 1e-9) return;
  }
  throw std::invalid_argument(std::string(what) + " must be one of the INA3221's conversion times: 140e-6, 204e-6, "
                              "332e-6, 588e-6, 1.1e-3, 2.116e-3, 4.156e-3 or 8.244e-3 s; got " + std::to_string(s));
}

void write_static(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::trunc);
  f << text << "\n";
  if (!f) throw std::runtime_error("cannot write " + path);
}

int open_rw(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create " + path);
  return fd;
}
}  // namespace

Ina3221Emulator::Ina3221Emulator(std::shared_ptr<SyntheticSensor> source, Ina3221Config config)
    : source_(std::move(source)), config_(std::move(config)), rng_(config_.seed) {
  if (!source_) throw std::invalid_argument("the INA3221 emulator needs a power source (a synthetic sensor)");
  if (source_->num_rails() < 1) throw std::invalid_argument("the power source has no rail");
  if (config_.root.empty() || !std::filesystem::is_directory(config_.root)) {
    throw std::invalid_argument("root must be an existing directory to build the sysfs tree in, got '" +
                                config_.root + "'");
  }
  if (config_.labels.empty() || config_.labels.size() > 3) {
    throw std::invalid_argument("the INA3221 has 1 to 3 channels: give 1 to 3 rail labels");
  }
  if (config_.scales.size() < config_.labels.size()) {
    throw std::invalid_argument("give one power scale per rail label (" + std::to_string(config_.labels.size()) +
                                "), got " + std::to_string(config_.scales.size()));
  }
  for (double s : config_.scales) {
    if (!std::isfinite(s) || s < 0) throw std::invalid_argument("rail scales must be finite and >= 0");
  }
  if (!(config_.shunt_ohm > 0) || !std::isfinite(config_.shunt_ohm)) throw std::invalid_argument("shunt_ohm must be > 0");
  if (!(config_.bus_v > 0) || !(config_.bus_v <= 26.0)) {
    throw std::invalid_argument("bus_v must be in (0, 26] V (the INA3221's bus range)");
  }
  check_conversion("bus_conversion_s", config_.bus_conversion_s);
  check_conversion("shunt_conversion_s", config_.shunt_conversion_s);
  if (std::find(std::begin(kAverages), std::end(kAverages), config_.averages) == std::end(kAverages)) {
    throw std::invalid_argument("averages must be one of 1, 4, 16, 64, 128, 256, 512, 1024; got " +
                                std::to_string(config_.averages));
  }
  if (!(config_.noise_w >= 0) || !std::isfinite(config_.noise_w)) throw std::invalid_argument("noise_w must be >= 0");
  sc_ns_ = std::llround(config_.shunt_conversion_s * 1e9);
  bc_ns_ = std::llround(config_.bus_conversion_s * 1e9);
  pair_ns_ = sc_ns_ + bc_ns_;
  cycle_ns_ = pair_ns_ * static_cast<int64_t>(config_.labels.size());
  channels_.resize(config_.labels.size());
  create_tree();
  // Steady state for the power at construction time, as if the chip had run long before.
  const int64_t t = now_ns();
  std::vector<double> p(source_->num_rails());
  source_->power_at(t, p.data());
  std::lock_guard<std::mutex> lock(mutex_);
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    Channel& ch = channels_[c];
    const double amps = p[0] * config_.scales[c] / config_.bus_v;
    ch.acc_shunt_code = std::nearbyint(amps * config_.shunt_ohm / kShuntLsbV);
    ch.acc_bus_code = std::nearbyint(config_.bus_v / kBusLsbV);
    ch.reg.bus_mv = std::llround(ch.acc_bus_code * kBusLsbV * 1e3);
    ch.reg.shunt_uv = std::llround(ch.acc_shunt_code * kShuntLsbV * 1e6);
    ch.reg.current_ma = std::llround(static_cast<double>(ch.reg.shunt_uv) * 1000.0 / (config_.shunt_ohm * 1e6));
    ch.reg.last_update_ns = t;
    write_channel(ch);
  }
}

Ina3221Emulator::~Ina3221Emulator() {
  stop();
  for (Channel& ch : channels_) {
    for (int fd : {ch.fd_bus, ch.fd_curr, ch.fd_shunt}) {
      if (fd >= 0) ::close(fd);
    }
  }
  for (int fd : {fd_sum_in_, fd_sum_curr_}) {
    if (fd >= 0) ::close(fd);
  }
}

double Ina3221Emulator::refresh_s() const noexcept { return cycle_ns_ * 1e-9; }

void Ina3221Emulator::create_tree() {
  namespace fs = std::filesystem;
  dir_ = (fs::path(config_.root) / "sys/bus/i2c/drivers/ina3221" / config_.device / "hwmon" / config_.hwmon).string();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error("cannot create " + dir_ + ": " + ec.message());
  write_static(dir_ + "/name", "ina3221");
  // The mainline driver reports C * (BC + SC) in whole ms (DIV_ROUND_CLOSEST); drivers before its
  // 2021 change ("hwmon: (ina3221) ... omit the number of samples") multiplied that by N.
  const int64_t interval_us = cycle_ns_ / 1000 * (config_.interval_includes_averages ? config_.averages : 1);
  write_static(dir_ + "/update_interval", std::to_string((interval_us + 500) / 1000));
  write_static(dir_ + "/samples", std::to_string(config_.averages));
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    const std::string i = std::to_string(c + 1);
    write_static(dir_ + "/in" + i + "_label", config_.labels[c]);
    write_static(dir_ + "/shunt" + i + "_resistor", std::to_string(std::llround(config_.shunt_ohm * 1e6)));
    channels_[c].fd_bus = open_rw(dir_ + "/in" + i + "_input");
    channels_[c].fd_curr = open_rw(dir_ + "/curr" + i + "_input");
    channels_[c].fd_shunt = open_rw(dir_ + "/in" + std::to_string(c + 4) + "_input");
  }
  write_static(dir_ + "/in7_label", "sum of shunt voltages");
  fd_sum_in_ = open_rw(dir_ + "/in7_input");
  fd_sum_curr_ = open_rw(dir_ + "/curr4_input");
}

void Ina3221Emulator::write_fixed(int fd, int64_t value) {
  char buf[kFieldWidth + 2];
  std::snprintf(buf, sizeof buf, "%*lld\n", kFieldWidth, static_cast<long long>(value));
  // One pwrite at offset 0 of a constant-length text: the file never shrinks or grows.
  if (::pwrite(fd, buf, kFieldWidth + 1, 0) != kFieldWidth + 1) {
    throw std::runtime_error("INA3221 emulator: pwrite failed under " + dir_);
  }
}

void Ina3221Emulator::write_channel(Channel& ch) {
  write_fixed(ch.fd_bus, ch.reg.bus_mv);
  write_fixed(ch.fd_curr, ch.reg.current_ma);
  write_fixed(ch.fd_shunt, ch.reg.shunt_uv);
  int64_t sum = 0;
  for (const Channel& c : channels_) sum += c.reg.shunt_uv;
  write_fixed(fd_sum_in_, sum);
  write_fixed(fd_sum_curr_, std::llround(static_cast<double>(sum) * 1000.0 / (config_.shunt_ohm * 1e6)));
}

double Ina3221Emulator::shunt_code(int channel, int64_t t0, int64_t t1) {
  double e0 = 0, e1 = 0;
  std::vector<double> buf(source_->num_rails());
  source_->energy_at(t0, buf.data());
  e0 = buf[0];
  source_->energy_at(t1, buf.data());
  e1 = buf[0];
  // The delta-sigma ADC integrates: the conversion reads the mean over its interval.
  const double mean_w = (e1 - e0) / ((t1 - t0) * 1e-9) * config_.scales[channel];
  double amps = mean_w / config_.bus_v;
  if (config_.noise_w > 0) amps += config_.noise_w / config_.bus_v * noise_(rng_);
  const double code = std::nearbyint(amps * config_.shunt_ohm / kShuntLsbV);
  return std::clamp(code, -4096.0, 4095.0);  // 13-bit signed shunt ADC: +-163.8 mV full scale
}

void Ina3221Emulator::advance_to(int64_t t_ns, int64_t origin_ns) {
  std::lock_guard<std::mutex> lock(mutex_);
  advance_locked(t_ns, origin_ns, true);
}

void Ina3221Emulator::advance_locked(int64_t t_ns, int64_t origin_ns, bool write_files) {
  if (origin_ns_ < 0) origin_ns_ = origin_ns >= 0 ? origin_ns : t_ns;
  const uint64_t per_cycle = 2 * channels_.size();
  std::array<bool, 3> dirty{};  // 1 to 3 channels (checked at construction); no allocation per read
  std::array<int, 3> shunt_updates{};
  const double n = static_cast<double>(config_.averages);
  while (true) {
    const uint64_t j = next_slot_;
    const int64_t k = static_cast<int64_t>(j / per_cycle);
    const int c = static_cast<int>((j / 2) % channels_.size());
    const bool shunt = j % 2 == 0;
    const int64_t start = origin_ns_ + k * cycle_ns_ + c * pair_ns_ + (shunt ? 0 : sc_ns_);
    const int64_t end = start + (shunt ? sc_ns_ : bc_ns_);
    if (end > t_ns) break;
    Channel& ch = channels_[c];
    if (shunt) {
      const double code = shunt_code(c, start, end);
      ch.acc_shunt_code += (code - ch.acc_shunt_code) / n;
      ch.reg.shunt_uv = std::llround(std::nearbyint(ch.acc_shunt_code) * kShuntLsbV * 1e6);
      ch.reg.current_ma = std::llround(static_cast<double>(ch.reg.shunt_uv) * 1000.0 / (config_.shunt_ohm * 1e6));
      ch.reg.updates += 1;
      ch.reg.last_update_ns = end;
      ++shunt_updates[c];
    } else {
      const double code = std::nearbyint(config_.bus_v / kBusLsbV);
      ch.acc_bus_code += (code - ch.acc_bus_code) / n;
      ch.reg.bus_mv = std::llround(std::nearbyint(ch.acc_bus_code) * kBusLsbV * 1e3);
    }
    dirty[c] = true;
    ++next_slot_;
    ++conversions_;
  }
  if (!write_files) return;
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    if (!dirty[c]) continue;
    // A reader may see the new registers from the start of the write on.
    const int64_t begin = now_ns();
    for (int i = 0; i < shunt_updates[c] && written_.size() < kMaxWritten; ++i) written_.push_back(begin);
    write_channel(channels_[c]);
  }
}

std::vector<int64_t> Ina3221Emulator::refresh_writes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return written_;
}

std::vector<int64_t> Ina3221Emulator::refresh_instants(int64_t t0_ns, int64_t t1_ns, int channel) const {
  if (channel < -1 || channel >= static_cast<int>(channels_.size())) {
    throw std::out_of_range("channel " + std::to_string(channel) + " is not one of this emulator's " +
                            std::to_string(channels_.size()) + " channels (0-based; -1 for any)");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int64_t> out;
  if (origin_ns_ < 0 || t1_ns <= t0_ns) return out;
  // Channel c's shunt register refreshes at origin + k * cycle + c * pair + SC, k >= 0.
  const int64_t first_k = std::max<int64_t>(0, (t0_ns - origin_ns_ - sc_ns_ - cycle_ns_) / cycle_ns_);
  for (int64_t k = first_k;; ++k) {
    const int64_t base = origin_ns_ + k * cycle_ns_ + sc_ns_;
    if (base >= t1_ns) break;
    for (std::size_t c = 0; c < channels_.size(); ++c) {
      if (channel >= 0 && static_cast<std::size_t>(channel) != c) continue;
      const int64_t t = base + static_cast<int64_t>(c) * pair_ns_;
      if (t >= t0_ns && t < t1_ns) out.push_back(t);
    }
  }
  return out;
}

void Ina3221Emulator::read_registers(double* power_w) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t t = now_ns();
  advance_locked(t, -1, false);
  if (reads_.size() < kMaxWritten) reads_.push_back(t);
  for (std::size_t c = 0; c < channels_.size(); ++c) {
    power_w[c] = static_cast<double>(channels_[c].reg.bus_mv) * static_cast<double>(channels_[c].reg.current_ma) * 1e-6;
  }
}

std::vector<int64_t> Ina3221Emulator::register_reads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reads_;
}

namespace {
SensorInfo register_info(const Ina3221Emulator& e) {
  SensorInfo info;
  info.kind = "ina3221-registers";
  info.description = "emulated INA3221 read in process (registers computed at each read)";
  info.rails = e.config().labels;
  info.total_rail = 0;
  info.update_interval_s = e.refresh_s();
  info.details["averages"] = std::to_string(e.config().averages);
  info.details["shunt_conversion_s"] = std::to_string(e.config().shunt_conversion_s);
  info.details["bus_conversion_s"] = std::to_string(e.config().bus_conversion_s);
  return info;
}
}  // namespace

Ina3221RegisterSensor::Ina3221RegisterSensor(std::shared_ptr<Ina3221Emulator> emulator)
    : Sensor(register_info(*emulator)), emulator_(std::move(emulator)) {}

void Ina3221RegisterSensor::read(double* power_w, double* /*counter_j*/) { emulator_->read_registers(power_w); }

void Ina3221Emulator::start() {
  if (running_.load()) throw std::logic_error("the INA3221 emulator is already running");
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (origin_ns_ < 0) origin_ns_ = now_ns();
  }
  stop_.store(false);
  running_.store(true);
  thread_ = std::thread([this] { run(); });
}

void Ina3221Emulator::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  running_.store(false);
}

void Ina3221Emulator::run() {
  // The chip's registers refresh on its own clock: no 50 us timer slack on the writes.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (config_.realtime_priority > 0) {
    sched_param sp{};
    sp.sched_priority = config_.realtime_priority;
    pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);  // best effort: runs normally where not permitted
  }
  while (!stop_.load(std::memory_order_relaxed)) {
    int64_t next_end;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const uint64_t per_cycle = 2 * channels_.size();
      const uint64_t j = next_slot_;
      const int64_t k = static_cast<int64_t>(j / per_cycle);
      const int c = static_cast<int>((j / 2) % channels_.size());
      const bool shunt = j % 2 == 0;
      next_end = origin_ns_ + k * cycle_ns_ + c * pair_ns_ + sc_ns_ + (shunt ? 0 : bc_ns_);
    }
    sleep_until_ns(next_end);
    try {
      advance_to(now_ns());
    } catch (const std::exception&) {
      // The tree was removed under us (the caller cleaned up first): stop quietly.
      break;
    }
  }
  running_.store(false);
}

Ina3221Registers Ina3221Emulator::registers(int channel) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (channel < 0 || channel >= static_cast<int>(channels_.size())) {
    throw std::out_of_range("channel must be 0.." + std::to_string(channels_.size() - 1));
  }
  return channels_[channel].reg;
}

uint64_t Ina3221Emulator::conversions() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return conversions_;
}

double Ina3221Emulator::true_power_w(int channel, int64_t t_ns) const {
  if (channel < 0 || channel >= static_cast<int>(channels_.size())) throw std::out_of_range("bad channel");
  std::vector<double> buf(source_->num_rails());
  source_->power_at(t_ns, buf.data());
  return buf[0] * config_.scales[channel];
}

double Ina3221Emulator::true_energy_j(int channel, int64_t t0_ns, int64_t t1_ns) const {
  if (channel < 0 || channel >= static_cast<int>(channels_.size())) throw std::out_of_range("bad channel");
  std::vector<double> a(source_->num_rails()), b(source_->num_rails());
  source_->energy_at(t0_ns, a.data());
  source_->energy_at(t1_ns, b.data());
  return (b[0] - a[0]) * config_.scales[channel];
}

}  // namespace edgepower
