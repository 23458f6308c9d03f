#include "nvml_like.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/clock.hpp"

namespace edgepower {

namespace {
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

SensorInfo nvml_info(const char* kind, const std::string& description, const NvmlLikeOptions& o, bool counter) {
  if (!(o.period_s > 0) || !std::isfinite(o.period_s)) throw std::invalid_argument("period_s must be > 0 seconds");
  if (!(o.phase_s >= 0) || !std::isfinite(o.phase_s)) throw std::invalid_argument("phase_s must be >= 0 seconds");
  SensorInfo info;
  info.kind = kind;
  info.description = description;
  info.rails = {"gpu"};
  info.has_power = !counter;
  info.has_counter = counter;
  info.power_derived = false;
  info.update_interval_s = o.period_s;
  info.estimated = false;
  info.details["emulated"] = "true";
  info.details["period_s"] = std::to_string(o.period_s);
  return info;
}
}  // namespace

NvmlLikeSensor::NvmlLikeSensor(std::shared_ptr<SyntheticSensor> source, const NvmlLikeOptions& options,
                               SensorInfo info)
    : Sensor(std::move(info)), source_(std::move(source)), options_(options) {
  if (!source_) throw std::invalid_argument("an NVML-like emulator needs a power source (a synthetic sensor)");
  period_ns_ = std::max<int64_t>(1, std::llround(options.period_s * 1e9));
  origin_ns_ = options.origin_ns >= 0 ? options.origin_ns : now_ns() + std::llround(options.phase_s * 1e9);
}

int64_t NvmlLikeSensor::last_update_ns(int64_t t) const {
  return origin_ns_ + floor_div(t - origin_ns_, period_ns_) * period_ns_;
}

double NvmlLikeSensor::energy_at(int64_t t) const {
  std::vector<double> buf(source_->num_rails());
  source_->energy_at(t, buf.data());
  return buf[0];
}

double NvmlLikeSensor::true_energy_j(int64_t t0, int64_t t1) const { return energy_at(t1) - energy_at(t0); }

NvmlCounterEmulator::NvmlCounterEmulator(std::shared_ptr<SyntheticSensor> source, const NvmlLikeOptions& options)
    : NvmlLikeSensor(std::move(source), options,
                     nvml_info("emulated-nvml-energy",
                               "emulated NVML energy counter (mJ, steps every " +
                                   std::to_string(std::llround(options.period_s * 1e3)) + " ms)",
                               options, true)) {}

void NvmlCounterEmulator::read(double* power_w, double* counter_j) {
  const int64_t t = last_update_ns(now_ns());
  // NVML returns whole millijoules (unsigned long long).
  counter_j[0] = std::floor(energy_at(t) * 1e3) * 1e-3;
  power_w[0] = std::numeric_limits<double>::quiet_NaN();
}

NvmlInstantEmulator::NvmlInstantEmulator(std::shared_ptr<SyntheticSensor> source, const NvmlLikeOptions& options)
    : NvmlLikeSensor(std::move(source), options,
                     nvml_info("emulated-nvml-instant",
                               "emulated NVML instant power (mW): mean of " +
                                   std::to_string(std::llround(options.window_s * 1e3)) + " ms every " +
                                   std::to_string(std::llround(options.period_s * 1e3)) + " ms",
                               options, false)),
      rng_(options.seed) {
  if (!(options.window_s > 0) || options.window_s > options.period_s) {
    throw std::invalid_argument("window_s must be > 0 and <= period_s");
  }
  if (!(options.noise_w >= 0) || !std::isfinite(options.noise_w)) throw std::invalid_argument("noise_w must be >= 0");
  info_.details["window_s"] = std::to_string(options.window_s);
}

double NvmlInstantEmulator::observed_w(int64_t t) const {
  const int64_t u = last_update_ns(t);
  const int64_t w = std::llround(options_.window_s * 1e9);
  return (energy_at(u) - energy_at(u - w)) / (w * 1e-9);
}

void NvmlInstantEmulator::read(double* power_w, double*) {
  const int64_t u = last_update_ns(now_ns());
  std::lock_guard<std::mutex> lock(mutex_);
  if (u != held_update_ns_) {
    // One noise draw per update: repeated reads between updates return the same value.
    held_update_ns_ = u;
    double v = observed_w(u);
    if (options_.noise_w > 0) v += options_.noise_w * noise_(rng_);
    held_w_ = std::round(v * 1e3) * 1e-3;
  }
  power_w[0] = held_w_;
}

}  // namespace edgepower
