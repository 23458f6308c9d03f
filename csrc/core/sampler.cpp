#include "sampler.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "clock.hpp"

namespace edgepower {

namespace {
constexpr std::size_t kMaxChunks = 1 << 17;
constexpr int64_t kStopSliceNs = 20'000'000;  // longest uninterruptible sleep: keeps stop() prompt
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double percentile_us(std::vector<int32_t>& v, double q) {
  if (v.empty()) return kNaN;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }
}  // namespace

struct Sampler::Chunk {
  Chunk(std::size_t n, std::size_t rails, bool counter)
      : t_ns(n), read_ns(n), lateness_ns(n), power_w(n * rails), counter_j(counter ? n * rails : 0) {}
  // std::vector value-initialises, which also touches every page now rather than mid-sampling.
  std::vector<int64_t> t_ns;
  std::vector<int32_t> read_ns;
  std::vector<int32_t> lateness_ns;
  std::vector<double> power_w;
  std::vector<double> counter_j;
};

void Sampler::check_rate_hz(double rate_hz) {
  if (!(rate_hz >= kMinRateHz && rate_hz <= kMaxRateHz)) {
    std::ostringstream msg;
    msg << "rate_hz must be a number from " << kMinRateHz << " to " << kMaxRateHz << " Hz, got " << rate_hz;
    throw std::invalid_argument(msg.str());
  }
}

Sampler::Sampler(SensorPtr sensor, SamplerOptions options)
    : sensor_(std::move(sensor)), options_(options), chunks_(kMaxChunks) {
  if (!sensor_) throw std::invalid_argument("Sampler needs a sensor, got null");
  check_rate_hz(options_.rate_hz);
  if (options_.max_consecutive_failures < 1) {
    throw std::invalid_argument("max_consecutive_failures must be >= 1");
  }
  if (options_.chunk_samples < 16) throw std::invalid_argument("chunk_samples must be >= 16");
  if (options_.realtime_priority < 0 || options_.realtime_priority > 99) {
    throw std::invalid_argument("realtime_priority must be 0 (off) or 1-99 (SCHED_FIFO priority)");
  }
  rails_ = sensor_->num_rails();
  has_counter_ = sensor_->info().has_counter;
  period_ns_ = static_cast<int64_t>(std::llround(1e9 / options_.rate_hz));
  for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
}

Sampler::~Sampler() {
  stop_requested_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  for (auto& c : chunks_) delete c.load(std::memory_order_relaxed);
}

void Sampler::start() {
  if (running() || thread_.joinable()) {
    throw std::logic_error("sampler is already running; call stop() first");
  }
  sensor_->require_available();
  if (rails_ == 0) throw std::invalid_argument("sensor '" + sensor_->info().kind + "' has no rails");
  failed_.store(false, std::memory_order_release);
  failure_reported_ = false;
  stop_requested_.store(false, std::memory_order_release);
  chunk_for_write(size());  // the first chunk is ready before the first deadline
  running_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
}

void Sampler::stop() {
  stop_requested_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  running_.store(false, std::memory_order_release);
  if (failed() && !failure_reported_) {
    failure_reported_ = true;
    std::lock_guard<std::mutex> lock(error_mutex_);
    throw SensorError("sampler stopped after " + std::to_string(options_.max_consecutive_failures) +
                      " consecutive failed reads of sensor '" + sensor_->info().kind +
                      "'; last error: " + last_error_);
  }
}

Sampler::Chunk* Sampler::chunk_for_write(std::size_t index) {
  const std::size_t c = index / options_.chunk_samples;
  if (c >= kMaxChunks) throw std::length_error("sampler storage is full; stop and start a new one");
  Chunk* chunk = chunks_[c].load(std::memory_order_acquire);
  if (chunk == nullptr) {
    chunk = new Chunk(options_.chunk_samples, rails_, has_counter_);
    chunks_[c].store(chunk, std::memory_order_release);
  }
  return chunk;
}

void Sampler::record_failure(const std::exception& e) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(error_mutex_);
  last_error_ = e.what();
}

void Sampler::run() {
  // The default 50 us timer slack would dominate lateness at 10 kHz.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (options_.realtime_priority > 0) {
    sched_param sp{};
    sp.sched_priority = options_.realtime_priority;
    realtime_.store(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0, std::memory_order_release);
  }
  std::vector<double> power(rails_), counter(rails_);
  int consecutive = 0;
  std::size_t index = size();
  int64_t next = now_ns();
  while (!stop_requested_.load(std::memory_order_acquire)) {
    int64_t wake = now_ns();
    while (wake < next) {
      sleep_until_ns(std::min(next, wake + kStopSliceNs));
      wake = now_ns();
      if (stop_requested_.load(std::memory_order_acquire)) break;
    }
    if (stop_requested_.load(std::memory_order_acquire)) break;
    std::fill(power.begin(), power.end(), kNaN);
    std::fill(counter.begin(), counter.end(), kNaN);
    bool ok = true;
    try {
      sensor_->read(power.data(), counter.data());
    } catch (const std::exception& e) {
      ok = false;
      record_failure(e);
    }
    const int64_t t = now_ns();
    if (ok) {
      consecutive = 0;
      try {
        Chunk* chunk = chunk_for_write(index);
        const std::size_t i = index % options_.chunk_samples;
        chunk->t_ns[i] = t;
        chunk->read_ns[i] = static_cast<int32_t>(std::min<int64_t>(t - wake, INT32_MAX));
        chunk->lateness_ns[i] = static_cast<int32_t>(std::min<int64_t>(wake - next, INT32_MAX));
        std::copy(power.begin(), power.end(), chunk->power_w.begin() + i * rails_);
        if (has_counter_) std::copy(counter.begin(), counter.end(), chunk->counter_j.begin() + i * rails_);
        ++index;
        count_.store(index, std::memory_order_release);
        // Allocate the next chunk half a chunk ahead, in the slack before the next deadline.
        if (i == options_.chunk_samples / 2) chunk_for_write(index + options_.chunk_samples);
      } catch (const std::exception& e) {
        record_failure(e);
        failed_.store(true, std::memory_order_release);
        break;
      }
    } else if (++consecutive >= options_.max_consecutive_failures) {
      failed_.store(true, std::memory_order_release);
      break;
    }
    next += period_ns_;
    // Deadlines already passed by a whole period are skipped and counted, never caught up.
    const int64_t after = now_ns();
    if (after >= next + period_ns_) {
      const int64_t skipped = (after - next) / period_ns_;
      next += skipped * period_ns_;
      missed_.fetch_add(static_cast<std::size_t>(skipped), std::memory_order_relaxed);
    }
  }
  timespec cpu{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
    cpu_ns_.fetch_add(static_cast<int64_t>(cpu.tv_sec) * 1000000000LL + cpu.tv_nsec, std::memory_order_relaxed);
  }
  running_.store(false, std::memory_order_release);
}

std::size_t Sampler::copy(std::size_t begin, std::size_t end, int64_t* t_ns, int32_t* read_ns,
                          int32_t* lateness_ns, double* power_w, double* counter_j) const {
  end = std::min(end, size());
  if (begin >= end) return 0;
  const std::size_t cs = options_.chunk_samples;
  std::size_t out = 0;
  for (std::size_t i = begin; i < end;) {
    const Chunk* chunk = chunks_[i / cs].load(std::memory_order_acquire);
    const std::size_t off = i % cs;
    const std::size_t n = std::min(end - i, cs - off);
    if (t_ns) std::memcpy(t_ns + out, chunk->t_ns.data() + off, n * sizeof(int64_t));
    if (read_ns) std::memcpy(read_ns + out, chunk->read_ns.data() + off, n * sizeof(int32_t));
    if (lateness_ns) std::memcpy(lateness_ns + out, chunk->lateness_ns.data() + off, n * sizeof(int32_t));
    if (power_w) std::memcpy(power_w + out * rails_, chunk->power_w.data() + off * rails_, n * rails_ * sizeof(double));
    if (counter_j && has_counter_) {
      std::memcpy(counter_j + out * rails_, chunk->counter_j.data() + off * rails_, n * rails_ * sizeof(double));
    }
    out += n;
    i += n;
  }
  return out;
}

std::size_t Sampler::index_at_or_after(int64_t t) const {
  std::size_t lo = 0, hi = size();
  const std::size_t cs = options_.chunk_samples;
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    const Chunk* chunk = chunks_[mid / cs].load(std::memory_order_acquire);
    if (chunk->t_ns[mid % cs] < t) lo = mid + 1; else hi = mid;
  }
  return lo;
}

SampleBlock Sampler::copy_block(std::size_t begin, std::size_t end) const {
  SampleBlock b;
  b.rails = rails_;
  end = std::min(end, size());
  const std::size_t n = begin < end ? end - begin : 0;
  b.t_ns.resize(n);
  b.read_ns.resize(n);
  b.lateness_ns.resize(n);
  b.power_w.resize(n * rails_);
  if (has_counter_) b.counter_j.resize(n * rails_);
  copy(begin, begin + n, b.t_ns.data(), b.read_ns.data(), b.lateness_ns.data(), b.power_w.data(),
       has_counter_ ? b.counter_j.data() : nullptr);
  return b;
}

SamplerStats Sampler::stats() const {
  SamplerStats s;
  s.requested_rate_hz = options_.rate_hz;
  SampleBlock b = copy_block();
  const std::size_t n = b.size();
  s.samples = n;
  s.missed_deadlines = missed_.load(std::memory_order_relaxed);
  s.read_errors = errors_.load(std::memory_order_relaxed);
  s.failed = failed();
  s.realtime = realtime();
  s.cpu_s = cpu_ns_.load(std::memory_order_relaxed) * 1e-9;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    s.last_error = last_error_;
  }
  s.effective_update_interval_s = kNaN;
  if (n >= 2) {
    s.duration_s = (b.t_ns[n - 1] - b.t_ns[0]) * 1e-9;
    s.achieved_rate_hz = s.duration_s > 0 ? (n - 1) / s.duration_s : kNaN;
  }
  s.lateness_p50_us = percentile_us(b.lateness_ns, 0.50);
  s.lateness_p99_us = percentile_us(b.lateness_ns, 0.99);
  s.lateness_max_us = n ? *std::max_element(b.lateness_ns.begin(), b.lateness_ns.end()) / 1000.0 : kNaN;
  s.read_p50_us = percentile_us(b.read_ns, 0.50);
  s.read_p99_us = percentile_us(b.read_ns, 0.99);
  s.read_max_us = n ? *std::max_element(b.read_ns.begin(), b.read_ns.end()) / 1000.0 : kNaN;
  if (n >= 2) {
    // Compare power where the sensor gives it, else the counters.
    const bool use_power = sensor_->info().has_power || !has_counter_;
    const std::vector<double>& v = use_power ? b.power_w : b.counter_j;
    std::size_t identical = 0, changes = 0;
    int64_t first_change = 0, last_change = 0;
    for (std::size_t i = 1; i < n; ++i) {
      bool eq = true;
      for (std::size_t r = 0; r < rails_ && eq; ++r) eq = same(v[i * rails_ + r], v[(i - 1) * rails_ + r]);
      if (eq) {
        ++identical;
      } else {
        if (changes == 0) first_change = b.t_ns[i];
        last_change = b.t_ns[i];
        ++changes;
      }
    }
    s.identical_share = static_cast<double>(identical) / static_cast<double>(n - 1);
    if (changes >= 2) s.effective_update_interval_s = (last_change - first_change) * 1e-9 / (changes - 1);
  }
  return s;
}

}  // namespace edgepower
