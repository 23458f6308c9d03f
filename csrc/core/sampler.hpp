#pragma once
// A thread that reads one Sensor at a fixed rate on absolute CLOCK_MONOTONIC deadlines, stores
// the samples in chunks under a memory cap, and keeps running statistics in O(1) memory.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "refresh_lock.hpp"
#include "sensor.hpp"

namespace edgepower {

/// What the sampler does when its stored samples reach the cap.
enum class MemoryPolicy {
  Stop,     ///< stop sampling; stop() raises SamplerLimitError naming the cap and how to raise it
  Rolling,  ///< keep at least the newest max_samples samples; older ones are dropped and counted
};

/// "stop" / "rolling".
const char* memory_policy_name(MemoryPolicy p);
/// Parses "stop" / "rolling"; throws std::invalid_argument naming the choices otherwise.
MemoryPolicy parse_memory_policy(const std::string& name);

struct SamplerOptions {
  double rate_hz = 1000.0;             ///< 1 Hz .. 20 kHz; with refresh_lock, the fallback polling rate
  /// Read each sensor refresh just after it happens instead of polling at rate_hz: the refresh
  /// period and phase are learnt from the readings' changes (RefreshLock, refresh_lock.hpp).
  bool refresh_lock = false;
  /// Starting guess of the refresh period (s); NaN: the sensor's info().update_interval_s.
  double refresh_guess_s = std::numeric_limits<double>::quiet_NaN();
  int max_consecutive_failures = 100;  ///< the sampler stops after this many failed reads in a row
  std::size_t chunk_samples = 16384;   ///< samples per storage chunk
  /// 0: normal scheduling. 1-99: ask for SCHED_FIFO at this priority (needs CAP_SYS_NICE or
  /// root); if refused the sampler runs normally and stats().realtime says so.
  int realtime_priority = 0;
  /// Cap on stored samples. 0: max_memory_bytes / bytes per sample. At most one of
  /// max_samples and max_memory_bytes may be set.
  std::size_t max_samples = 0;
  /// Cap on the memory of stored samples (bytes). 0 (and max_samples 0): 10 % of physical RAM.
  std::size_t max_memory_bytes = 0;
  MemoryPolicy memory_policy = MemoryPolicy::Stop;
  /// Size of the chunk table: at most max_chunks * chunk_samples samples are addressable under
  /// the stop policy; the rolling policy reuses table slots. Tests make it small.
  std::size_t max_chunks = std::size_t{1} << 17;
};

/// Columns copied out of a sampler; row i is sample begin + i.
struct SampleBlock {
  std::size_t rails = 0;
  std::size_t begin = 0;             ///< absolute index of the first row (see Sampler::first_index)
  std::vector<int64_t> t_ns;         ///< CLOCK_MONOTONIC ns, taken right after the read
  std::vector<int32_t> read_ns;      ///< duration of the read
  std::vector<int32_t> lateness_ns;  ///< wake-up time minus deadline
  std::vector<double> power_w;       ///< n x rails, row-major; NaN where the sensor has no power
  std::vector<double> counter_j;     ///< n x rails raw counters, empty unless has_counter
  std::size_t size() const { return t_ns.size(); }
};

/// Statistics over every sample recorded since construction (dropped ones included), kept by
/// the sampling thread as it goes: stats() copies no samples. Percentiles come from a
/// log-linear histogram (exact below 64 ns, within 0.8 % above); maxima are exact.
struct SamplerStats {
  double requested_rate_hz = 0;
  std::size_t samples = 0;        ///< recorded (retained + dropped)
  double duration_s = 0;          ///< first to last sample
  double achieved_rate_hz = 0;    ///< (samples - 1) / duration
  double lateness_p50_us = 0, lateness_p99_us = 0, lateness_max_us = 0;
  double read_p50_us = 0, read_p99_us = 0, read_max_us = 0;
  std::size_t missed_deadlines = 0;  ///< periods skipped because a read or wake-up ran late
  std::size_t read_errors = 0;
  double identical_share = 0;     ///< share of samples equal to the previous one on every rail
  double effective_update_interval_s = 0;  ///< mean time between changed readings (NaN if < 2)
  std::string last_error;
  bool failed = false;            ///< stopped itself: too many consecutive failures or a limit
  bool realtime = false;          ///< the thread ran with SCHED_FIFO
  double cpu_s = 0;               ///< CPU time the sampling thread used (all runs, up to its last stop)
  // Memory.
  MemoryPolicy memory_policy = MemoryPolicy::Stop;
  std::size_t max_samples = 0;       ///< the cap
  std::size_t bytes_per_sample = 0;  ///< storage per sample (timestamps, read time, rails)
  std::size_t retained_samples = 0;  ///< samples held now
  std::size_t dropped_samples = 0;   ///< rolling policy: oldest samples dropped (== first_index())
  bool limit_reached = false;        ///< stop policy: the cap (or the chunk table) stopped sampling
  /// Why the thread stopped by itself: "" (it did not), "failures", "sample cap", "chunk table",
  /// "sensor finished" (a replay reached its end: not an error).
  std::string stop_reason;
  bool finished = false;             ///< the sensor ran out of data (replay end); not a failure
  // Readings.
  std::vector<std::size_t> counter_resets;         ///< per rail: counter resets seen
  std::vector<std::size_t> negative_power_samples; ///< per rail: samples with power < 0
  std::string last_counter_reset;    ///< e.g. "rail package-0: 1000 J -> 0 J at t_ns=..."
  // Refresh lock (mode "refresh"; zeros / NaN in mode "fixed"). Unlike the figures above, these
  // describe the latest start() only: each run learns the refresh afresh.
  std::string mode = "fixed";        ///< "fixed" (rate_hz) or "refresh" (refresh_lock)
  std::string refresh_state;         ///< "learning", "locked" or "fallback" ("" in mode fixed)
  double refresh_guess_s = std::numeric_limits<double>::quiet_NaN();   ///< the starting guess
  double refresh_period_s = std::numeric_limits<double>::quiet_NaN();  ///< fitted period
  int64_t refresh_phase_ns = 0;      ///< a fitted refresh instant (CLOCK_MONOTONIC ns)
  std::size_t refreshes = 0;         ///< predicted refreshes passed while locked
  std::size_t refreshes_changed = 0; ///< of them, refreshes whose reading changed (and was read)
  std::size_t refreshes_late = 0;    ///< refreshes whose whole window passed before a read (late wake-up)
  std::size_t refresh_probes = 0;    ///< probes: reads from before a predicted refresh that keep the fit
  std::size_t refresh_probes_early = 0;  ///< of them, probes that found the refresh already done
  /// Share of locked refreshes whose first read after the fitted instant ended within 50 us of it.
  double refresh_within_50us_share = std::numeric_limits<double>::quiet_NaN();
  double refresh_latency_p50_us = std::numeric_limits<double>::quiet_NaN();  ///< that read's end - refresh
  double refresh_latency_p99_us = std::numeric_limits<double>::quiet_NaN();
  std::size_t refresh_learns = 0;    ///< learning phases (1 + re-learns)
  std::size_t refresh_fallbacks = 0; ///< times it fell back to polling at rate_hz
  std::string refresh_note;          ///< why it last fell back or re-learnt ("" if never)
};

/// The sampler stopped because it reached a limit (its sample cap under the stop policy, or its
/// chunk table); the message names the limit and how to raise it. A SensorError so that code
/// handling the sampler's failures handles it too.
class SamplerLimitError : public SensorError {
 public:
  using SensorError::SensorError;
};

/// Owns the sampling thread and the recorded samples. start/stop/destructor from one owner
/// thread; size/copy/stats are thread-safe and may run while sampling.
/// Indices are absolute: sample i is the i-th recorded since construction. Under the rolling
/// policy samples before first_index() have been dropped; copies start at first_index() at the
/// earliest.
class Sampler {
 public:
  /// The sampling rates this sampler supports, Hz: the one place the range is stated.
  static constexpr double kMinRateHz = 1.0;
  static constexpr double kMaxRateHz = 20000.0;
  /// Throws std::invalid_argument (saying the range) unless kMinRateHz <= rate_hz <= kMaxRateHz.
  static void check_rate_hz(double rate_hz);

  /// Throws std::invalid_argument for bad options (rate, caps, policy) naming the fix.
  Sampler(SensorPtr sensor, SamplerOptions options = {});
  ~Sampler();  ///< stops the thread if running; never throws
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  /// Starts sampling (appending to what earlier runs recorded). Throws std::invalid_argument for
  /// a bad rate, SensorUnavailable for an unavailable sensor, std::logic_error if running,
  /// SamplerLimitError if the stop policy's cap is already reached.
  void start();
  /// Stops and joins; returns within one period plus one read. If the sampler stopped itself,
  /// rethrows that cause once: SensorError after max_consecutive_failures, SamplerLimitError for
  /// the cap or the chunk table. A sensor that ran out of data (replay end) is not an error.
  void stop();
  bool running() const noexcept { return running_.load(std::memory_order_acquire); }
  /// True once the thread gave up (consecutive read failures, or a limit).
  bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
  /// True once the sensor ran out of data (SensorExhausted) and the thread ended cleanly.
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  /// True once the thread was granted SCHED_FIFO (see SamplerOptions::realtime_priority).
  bool realtime() const noexcept { return realtime_.load(std::memory_order_acquire); }

  const SensorPtr& sensor() const noexcept { return sensor_; }
  const SamplerOptions& options() const noexcept { return options_; }
  std::size_t rails() const noexcept { return rails_; }
  bool has_counter() const noexcept { return has_counter_; }
  /// The cap on stored samples (resolved from the options); thread-safe.
  std::size_t max_samples() const noexcept { return max_samples_; }
  /// Bytes stored per sample; thread-safe.
  std::size_t bytes_per_sample() const noexcept { return bytes_per_sample_; }

  /// Samples recorded so far (the index after the newest); thread-safe.
  std::size_t size() const noexcept { return count_.load(std::memory_order_acquire); }
  /// Index of the oldest sample still stored (0 unless the rolling policy dropped some).
  std::size_t first_index() const noexcept { return first_.load(std::memory_order_seq_cst); }
  /// First stored sample index with t_ns >= t (size() if none); binary search; thread-safe.
  std::size_t index_at_or_after(int64_t t_ns) const;
  /// Copies stored samples [max(begin, first_index()), min(end, size())) into caller buffers
  /// sized for end - begin rows (any may be null except t_ns); returns how many rows were copied
  /// and, when first_copied is not null, the absolute index of row 0. Thread-safe.
  std::size_t copy(std::size_t begin, std::size_t end, int64_t* t_ns, int32_t* read_ns,
                   int32_t* lateness_ns, double* power_w, double* counter_j,
                   std::size_t* first_copied = nullptr) const;
  SampleBlock copy_block(std::size_t begin = 0, std::size_t end = SIZE_MAX) const;
  /// Rolling policy: consumers that copy samples as they come (a spool writer, a trace log,
  /// edgepower-record's file) each hold the samples they have not copied yet. Held samples stay
  /// past the cap, up to as many again as the cap holds (the oldest hold counts); past that the
  /// oldest go anyway (the consumer sees begin > since in copy()). No effect under the stop
  /// policy, which drops nothing. All three are thread-safe.
  ///
  /// add_hold registers a consumer holding the samples from `from` on (kNoHold: none yet) and
  /// returns its id; std::length_error when kMaxHolds consumers are registered.
  std::size_t add_hold(std::size_t from = kNoHold);
  /// Consumer `id` now needs the samples from `from` on (kNoHold: none); std::out_of_range for
  /// an id add_hold did not return or remove_hold removed.
  void hold_from(std::size_t id, std::size_t from);
  /// Consumer `id` needs nothing more; its slot is free again. Unknown ids are ignored.
  void remove_hold(std::size_t id) noexcept;
  static constexpr std::size_t kNoHold = SIZE_MAX - 1;
  static constexpr std::size_t kMaxHolds = 8;
  /// O(1) in the number of samples. Thread-safe.
  SamplerStats stats() const;

  /// Physical RAM (bytes) as the kernel reports it; 0 if unknown.
  static std::size_t physical_memory_bytes();

 private:
  struct Chunk;
  /// Log-linear histogram of non-negative int32 nanoseconds: 64 exact buckets below 64 ns, then
  /// 64 per power of two. Written by the sampling thread only; read by stats() concurrently.
  class Histogram {
   public:
    static constexpr int kSub = 64;
    static constexpr int kBuckets = kSub + 25 * kSub;
    void add(int32_t v) noexcept;
    double quantile_ns(double q) const noexcept;  ///< NaN while empty
    int32_t max() const noexcept { return max_.load(std::memory_order_relaxed); }

   private:
    std::array<std::atomic<uint64_t>, kBuckets> count_{};
    std::atomic<int32_t> max_{0};
  };
  struct ReadGuard;

  void run();
  Chunk* chunk_for_write(std::size_t index);
  void retire_through(std::size_t chunk_number);
  void retire_behind(std::size_t writing);
  void reclaim() noexcept;
  void record_failure(const std::exception& e, bool count_as_read_error = true);
  /// Returns whether the reading differs from the one before.
  bool account(const double* power, const double* counter, int64_t t, int32_t read_ns, int32_t late_ns);
  std::string limit_message(bool table) const;

  SensorPtr sensor_;
  SamplerOptions options_;
  std::size_t rails_;
  bool has_counter_;
  int64_t period_ns_ = 0;
  std::size_t bytes_per_sample_ = 0;
  std::size_t max_samples_ = 0;
  std::size_t keep_chunks_ = 0;  // rolling: chunks kept behind the one being written
  std::size_t hold_chunks_ = 0;  // rolling: at most this many more while a consumer holds them
  std::size_t next_drop_ = 0;    // rolling: the oldest chunk not yet retired (sampling thread)
  static constexpr std::size_t kFreeHold = SIZE_MAX;       // a slot no consumer has
  std::array<std::atomic<std::size_t>, kMaxHolds> holds_;  // each consumer's first needed sample

  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> failed_{false};
  std::atomic<bool> finished_{false};
  std::atomic<bool> limit_reached_{false};
  std::atomic<bool> realtime_{false};
  std::atomic<int64_t> cpu_ns_{0};  // thread CPU time of finished runs
  bool failure_reported_ = false;

  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> first_{0};
  std::vector<std::atomic<Chunk*>> chunks_;  // slot = chunk number % size; never reallocated
  mutable std::atomic<std::size_t> readers_{0};  // copies in progress (rolling reclamation)
  std::vector<Chunk*> retired_;     // sampling thread (or owner when stopped) only
  std::vector<Chunk*> free_;        // reclaimed chunks for reuse; same
  std::atomic<std::size_t> missed_{0};
  std::atomic<std::size_t> errors_{0};
  mutable std::mutex error_mutex_;
  std::string last_error_;
  std::string stop_reason_;         // guarded by error_mutex_

  // Running statistics (written by the sampling thread; atomics so stats() may read any time).
  Histogram lateness_, read_;
  std::atomic<int64_t> first_t_ns_{0};
  std::atomic<int64_t> last_t_ns_{0};
  std::atomic<std::size_t> identical_{0};
  std::atomic<std::size_t> changes_{0};
  std::atomic<int64_t> first_change_ns_{0};
  std::atomic<int64_t> last_change_ns_{0};
  std::vector<double> prev_values_;          // sampling thread only: the previous sample's values
  bool have_prev_ = false;                   // sampling thread only
  std::vector<double> prev_counter_;         // sampling thread only: per rail
  std::vector<int64_t> counter_change_ns_;   // sampling thread only: per rail
  std::vector<uint8_t> counter_change_known_;  // sampling thread only: per rail
  std::unique_ptr<std::atomic<std::size_t>[]> resets_;    // per rail
  std::unique_ptr<std::atomic<std::size_t>[]> negative_;  // per rail
  std::string last_reset_;                   // guarded by error_mutex_
  // Refresh lock, published by the sampling thread after each read.
  void publish(const RefreshLock& lock);
  Histogram refresh_latency_;
  std::atomic<int> refresh_state_{0};
  std::atomic<double> refresh_period_ns_{std::numeric_limits<double>::quiet_NaN()};
  std::atomic<int64_t> refresh_phase_ns_{0};
  std::atomic<std::size_t> refreshes_{0}, refreshes_changed_{0}, refreshes_within_{0}, refreshes_late_{0};
  std::atomic<std::size_t> refresh_learns_{0}, refresh_fallbacks_{0}, refresh_probes_{0}, refresh_probes_early_{0};
  std::string refresh_note_;                 // guarded by error_mutex_
  double refresh_guess_s_ = std::numeric_limits<double>::quiet_NaN();
};

using SamplerPtr = std::shared_ptr<Sampler>;

}  // namespace edgepower
