#pragma once
// A thread that reads one Sensor at a fixed rate on absolute CLOCK_MONOTONIC deadlines.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "sensor.hpp"

namespace edgepower {

struct SamplerOptions {
  double rate_hz = 1000.0;             ///< 1 Hz .. 20 kHz
  int max_consecutive_failures = 100;  ///< the sampler stops after this many failed reads in a row
  std::size_t chunk_samples = 16384;   ///< samples per storage chunk
  /// 0: normal scheduling. 1-99: ask for SCHED_FIFO at this priority (needs CAP_SYS_NICE or
  /// root); if refused the sampler runs normally and stats().realtime says so.
  int realtime_priority = 0;
};

/// Columns copied out of a sampler; row i is sample i.
struct SampleBlock {
  std::size_t rails = 0;
  std::vector<int64_t> t_ns;         ///< CLOCK_MONOTONIC ns, taken right after the read
  std::vector<int32_t> read_ns;      ///< duration of the read
  std::vector<int32_t> lateness_ns;  ///< wake-up time minus deadline
  std::vector<double> power_w;       ///< n x rails, row-major; NaN where the sensor has no power
  std::vector<double> counter_j;     ///< n x rails raw counters, empty unless has_counter
  std::size_t size() const { return t_ns.size(); }
};

struct SamplerStats {
  double requested_rate_hz = 0;
  std::size_t samples = 0;
  double duration_s = 0;          ///< first to last sample
  double achieved_rate_hz = 0;    ///< (samples - 1) / duration
  double lateness_p50_us = 0, lateness_p99_us = 0, lateness_max_us = 0;
  double read_p50_us = 0, read_p99_us = 0, read_max_us = 0;
  std::size_t missed_deadlines = 0;  ///< periods skipped because a read or wake-up ran late
  std::size_t read_errors = 0;
  double identical_share = 0;     ///< share of samples equal to the previous one on every rail
  double effective_update_interval_s = 0;  ///< mean time between changed readings (NaN if < 2)
  std::string last_error;
  bool failed = false;            ///< stopped itself after too many consecutive failures
  bool realtime = false;          ///< the thread ran with SCHED_FIFO
  double cpu_s = 0;               ///< CPU time the sampling thread used (all runs, up to its last stop)
};

/// Owns the sampling thread and the recorded samples. start/stop/destructor from one owner
/// thread; size/copy/stats are thread-safe and may run while sampling.
class Sampler {
 public:
  /// The sampling rates this sampler supports, Hz: the one place the range is stated.
  static constexpr double kMinRateHz = 1.0;
  static constexpr double kMaxRateHz = 20000.0;
  /// Throws std::invalid_argument (saying the range) unless kMinRateHz <= rate_hz <= kMaxRateHz.
  static void check_rate_hz(double rate_hz);

  Sampler(SensorPtr sensor, SamplerOptions options = {});
  ~Sampler();  ///< stops the thread if running; never throws
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  /// Starts sampling (appending to what earlier runs recorded). Throws std::invalid_argument for
  /// a bad rate, SensorUnavailable for an unavailable sensor, std::logic_error if running.
  void start();
  /// Stops and joins; returns within one period plus one read. If the sampler stopped itself
  /// after max_consecutive_failures, rethrows that cause (once) as SensorError.
  void stop();
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  /// True once the thread gave up after too many consecutive read failures.
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  /// True once the thread was granted SCHED_FIFO (see SamplerOptions::realtime_priority).
  bool realtime() const noexcept { return realtime_.load(std::memory_order_acquire); }

  const SensorPtr& sensor() const noexcept { return sensor_; }
  const SamplerOptions& options() const noexcept { return options_; }
  std::size_t rails() const noexcept { return rails_; }
  bool has_counter() const noexcept { return has_counter_; }

  /// Samples recorded so far; thread-safe.
  std::size_t size() const noexcept { return count_.load(std::memory_order_acquire); }
  /// First sample index with t_ns >= t (size() if none); binary search; thread-safe.
  std::size_t index_at_or_after(int64_t t_ns) const;
  /// Copies samples [begin, min(end, size())) into caller buffers (any may be null except t_ns
  /// sized by the return value); returns how many rows were copied. Thread-safe.
  std::size_t copy(std::size_t begin, std::size_t end, int64_t* t_ns, int32_t* read_ns,
                   int32_t* lateness_ns, double* power_w, double* counter_j) const;
  SampleBlock copy_block(std::size_t begin = 0, std::size_t end = SIZE_MAX) const;
  SamplerStats stats() const;

 private:
  struct Chunk;
  void run();
  Chunk* chunk_for_write(std::size_t index);
  void record_failure(const std::exception& e);

  SensorPtr sensor_;
  SamplerOptions options_;
  std::size_t rails_;
  bool has_counter_;
  int64_t period_ns_ = 0;

  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> realtime_{false};
  std::atomic<int64_t> cpu_ns_{0};  // thread CPU time of finished runs
  bool failure_reported_ = false;

  std::atomic<std::size_t> count_{0};
  std::vector<std::atomic<Chunk*>> chunks_;  // fixed size: never reallocated while readers run
  std::atomic<std::size_t> missed_{0};
  std::atomic<std::size_t> errors_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
};

using SamplerPtr = std::shared_ptr<Sampler>;

}  // namespace edgepower
