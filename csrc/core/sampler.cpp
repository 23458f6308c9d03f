#include "sampler.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "clock.hpp"
#include "wake.hpp"
#include "energy.hpp"

namespace edgepower {

namespace {
constexpr int64_t kStopSliceNs = 20'000'000;  // longest uninterruptible sleep: keeps stop() prompt
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::size_t kMaxFreeChunks = 2;     // reclaimed chunks kept for reuse (rolling)

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

std::string mb(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", x);
  return buf;
}
}  // namespace

const char* memory_policy_name(MemoryPolicy p) { return p == MemoryPolicy::Rolling ? "rolling" : "stop"; }

MemoryPolicy parse_memory_policy(const std::string& name) {
  if (name == "stop") return MemoryPolicy::Stop;
  if (name == "rolling") return MemoryPolicy::Rolling;
  throw std::invalid_argument("memory_policy must be 'stop' (stop with an error at the cap) or 'rolling' (keep the "
                              "newest samples, drop and count older ones), got '" + name + "'");
}

struct Sampler::Chunk {
  Chunk(std::size_t n, std::size_t rails, bool counter)
      : t_ns(n), read_ns(n), lateness_ns(n), power_w(n * rails), counter_j(counter ? n * rails : 0) {}
  std::size_t number = 0;  // chunk number (first sample index / chunk_samples)
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

// A copy in progress: the rolling policy frees a dropped chunk only while no copy runs.
struct Sampler::ReadGuard {
  explicit ReadGuard(std::atomic<std::size_t>& r) : readers(r) { readers.fetch_add(1, std::memory_order_seq_cst); }
  ~ReadGuard() { readers.fetch_sub(1, std::memory_order_seq_cst); }
  std::atomic<std::size_t>& readers;
};

// ---- histogram ------------------------------------------------------------------------------

void Sampler::Histogram::add(int32_t v) noexcept {
  if (v < 0) v = 0;
  int b;
  if (v < kSub) {
    b = v;
  } else {
    const int e = 31 - __builtin_clz(static_cast<unsigned>(v));  // floor(log2 v) >= 6
    const int shift = e - 6;
    b = kSub + shift * kSub + ((v >> shift) - kSub);
  }
  // One writer: load + store is enough and cheaper than fetch_add.
  count_[b].store(count_[b].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
}

double Sampler::Histogram::quantile_ns(double q) const noexcept {
  std::array<uint64_t, kBuckets> snap;
  uint64_t total = 0;
  for (int b = 0; b < kBuckets; ++b) total += snap[b] = count_[b].load(std::memory_order_relaxed);
  if (total == 0) return kNaN;
  const uint64_t k = std::min<uint64_t>(total - 1, static_cast<uint64_t>(q * static_cast<double>(total - 1) + 0.5));
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += snap[b];
    if (seen > k) {
      if (b < kSub) return b;
      const int shift = (b - kSub) / kSub;
      const double lower = static_cast<double>((static_cast<int64_t>(kSub + (b - kSub) % kSub)) << shift);
      const double width = static_cast<double>(int64_t{1} << shift);
      return lower + (width - 1) / 2;  // middle of the bucket's integers: within 1/128 relative
    }
  }
  return kNaN;
}

// ---- construction ---------------------------------------------------------------------------

std::size_t Sampler::physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) : 0;
}

Sampler::Sampler(SensorPtr sensor, SamplerOptions options)
    : sensor_(std::move(sensor)), options_(options) {
  if (!sensor_) throw std::invalid_argument("Sampler needs a sensor, got null");
  for (auto& h : holds_) h.store(kFreeHold, std::memory_order_relaxed);
  check_rate_hz(options_.rate_hz);
  if (options_.max_consecutive_failures < 1) {
    throw std::invalid_argument("max_consecutive_failures must be >= 1");
  }
  if (options_.chunk_samples < 16) throw std::invalid_argument("chunk_samples must be >= 16");
  if (options_.max_chunks < 4) throw std::invalid_argument("max_chunks must be >= 4");
  if (options_.realtime_priority < 0 || options_.realtime_priority > 99) {
    throw std::invalid_argument("realtime_priority must be 0 (off) or 1-99 (SCHED_FIFO priority)");
  }
  rails_ = sensor_->num_rails();
  has_counter_ = sensor_->info().has_counter;
  period_ns_ = static_cast<int64_t>(std::llround(1e9 / options_.rate_hz));
  if (options_.refresh_lock) {
    const double g = options_.refresh_guess_s;
    if (!std::isnan(g) && !(g > 0 && g <= 10.0)) {
      throw std::invalid_argument("refresh_guess_s must be a refresh period in seconds, > 0 and <= 10 (or NaN: the "
                                  "sensor's update_interval_s), got " + fmt(g));
    }
    const double stated = sensor_->info().update_interval_s;
    refresh_guess_s_ = std::isfinite(g) ? g : (std::isfinite(stated) && stated > 0 ? stated : kNaN);
  }
  bytes_per_sample_ = sizeof(int64_t) + 2 * sizeof(int32_t) + rails_ * sizeof(double) * (has_counter_ ? 2 : 1);

  if (options_.max_samples && options_.max_memory_bytes) {
    throw std::invalid_argument("give max_samples or max_memory_bytes (max_memory_mb), not both");
  }
  if (options_.max_samples) {
    max_samples_ = options_.max_samples;
  } else {
    std::size_t bytes = options_.max_memory_bytes;
    if (bytes == 0) {
      const std::size_t ram = physical_memory_bytes();
      bytes = ram ? ram / 10 : std::size_t{1} << 30;  // 10 % of RAM; 1 GiB where RAM is unknown
    }
    max_samples_ = bytes / bytes_per_sample_;
    if (max_samples_ == 0) {
      throw std::invalid_argument("max_memory_bytes=" + std::to_string(bytes) + " holds no sample (" +
                                  std::to_string(bytes_per_sample_) + " bytes each for " + std::to_string(rails_) +
                                  " rail(s)); give at least that much");
    }
  }
  const std::size_t cs = options_.chunk_samples;
  if (options_.memory_policy == MemoryPolicy::Rolling) {
    keep_chunks_ = (max_samples_ + cs - 1) / cs;
    // The table holds the kept chunks, the one being written and the one allocated ahead.
    if (keep_chunks_ + 3 > options_.max_chunks) {
      throw std::invalid_argument("memory_policy='rolling' with a cap of " + std::to_string(max_samples_) +
                                  " samples needs " + std::to_string(keep_chunks_ + 3) + " chunks of " +
                                  std::to_string(cs) + " samples, more than the table's " +
                                  std::to_string(options_.max_chunks) + ": raise chunk_samples or lower the cap");
    }
    hold_chunks_ = std::min(keep_chunks_, options_.max_chunks - keep_chunks_ - 3);
  }
  chunks_ = std::vector<std::atomic<Chunk*>>(options_.max_chunks);
  for (auto& c : chunks_) c.store(nullptr, std::memory_order_relaxed);
  resets_.reset(new std::atomic<std::size_t>[rails_]);
  negative_.reset(new std::atomic<std::size_t>[rails_]);
  for (std::size_t r = 0; r < rails_; ++r) {
    resets_[r].store(0, std::memory_order_relaxed);
    negative_[r].store(0, std::memory_order_relaxed);
  }
  prev_values_.assign(rails_, kNaN);
  prev_counter_.assign(rails_, kNaN);
  counter_change_ns_.assign(rails_, 0);
  counter_change_known_.assign(rails_, 0);
}

Sampler::~Sampler() {
  stop_requested_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
  for (auto& c : chunks_) delete c.load(std::memory_order_relaxed);
  for (Chunk* c : retired_) delete c;
  for (Chunk* c : free_) delete c;
}

// ---- lifecycle ------------------------------------------------------------------------------

void Sampler::start() {
  if (running() || thread_.joinable()) {
    throw std::logic_error("sampler is already running; call stop() first");
  }
  sensor_->require_available();
  if (rails_ == 0) throw std::invalid_argument("sensor '" + sensor_->info().kind + "' has no rails");
  if (options_.memory_policy == MemoryPolicy::Stop && size() >= max_samples_) throw SamplerLimitError(limit_message(false));
  failed_.store(false, std::memory_order_release);
  finished_.store(false, std::memory_order_release);
  limit_reached_.store(false, std::memory_order_release);
  failure_reported_ = false;
  stop_requested_.store(false, std::memory_order_release);
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    stop_reason_.clear();
  }
  try {
    chunk_for_write(size());  // the first chunk is ready before the first deadline
  } catch (const std::length_error&) {
    throw SamplerLimitError(limit_message(true));
  }
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
    if (limit_reached_.load(std::memory_order_acquire)) throw SamplerLimitError(last_error_);
    throw SensorError("sampler stopped after " + std::to_string(options_.max_consecutive_failures) +
                      " consecutive failed reads of sensor '" + sensor_->info().kind +
                      "'; last error: " + last_error_);
  }
}

std::string Sampler::limit_message(bool table) const {
  const std::size_t n = size();
  const double span_s = n >= 2 ? (last_t_ns_.load() - first_t_ns_.load()) * 1e-9 : 0.0;
  if (table) {
    return "sampler stopped: its chunk table is full (" + std::to_string(options_.max_chunks) + " chunks of " +
           std::to_string(options_.chunk_samples) + " samples = " +
           std::to_string(options_.max_chunks * options_.chunk_samples) + " samples, after " + fmt(span_s) +
           " s); raise chunk_samples, use memory_policy='rolling', or stop and start a new sampler";
  }
  return "sampler stopped at its memory cap: " + std::to_string(max_samples_) + " samples (" +
         mb(max_samples_ * bytes_per_sample_) + " at " + std::to_string(bytes_per_sample_) +
         " bytes per sample; by default 10 % of physical RAM) reached after " + fmt(span_s) + " s at " +
         fmt(options_.rate_hz) + " Hz, memory_policy='stop'. Raise the cap with max_memory_mb= (max_samples= in "
         "C++), lower rate_hz, or use memory_policy='rolling' to keep the newest samples and drop older ones";
}

// ---- storage --------------------------------------------------------------------------------

Sampler::Chunk* Sampler::chunk_for_write(std::size_t index) {
  const std::size_t c = index / options_.chunk_samples;
  const bool rolling = options_.memory_policy == MemoryPolicy::Rolling;
  if (!rolling && c >= options_.max_chunks) throw std::length_error("chunk table full");
  std::atomic<Chunk*>& slot = chunks_[c % options_.max_chunks];
  Chunk* chunk = slot.load(std::memory_order_acquire);
  if (chunk != nullptr && chunk->number == c) return chunk;
  if (chunk != nullptr) retired_.push_back(chunk);  // a stale chunk left in the slot: never leak it
  if (!free_.empty()) {
    chunk = free_.back();
    free_.pop_back();
  } else {
    chunk = new Chunk(options_.chunk_samples, rails_, has_counter_);
  }
  chunk->number = c;
  slot.store(chunk, std::memory_order_seq_cst);
  return chunk;
}

void Sampler::retire_through(std::size_t drop) {
  // Samples of chunks <= drop leave: first move first_ past them, then take the chunks out of
  // the table; a reader that still holds one keeps readers_ > 0 until it is done.
  first_.store((drop + 1) * options_.chunk_samples, std::memory_order_seq_cst);
  std::atomic<Chunk*>& slot = chunks_[drop % options_.max_chunks];
  Chunk* chunk = slot.load(std::memory_order_relaxed);
  if (chunk != nullptr && chunk->number == drop) {
    slot.store(nullptr, std::memory_order_seq_cst);
    retired_.push_back(chunk);
  }
  reclaim();
}

void Sampler::retire_behind(std::size_t writing) {
  // Chunk `writing` is being written: keep_chunks_ behind it stay, and up to hold_chunks_ more
  // from the oldest sample a consumer holds on (a writer's next sample: add_hold, hold_from).
  if (writing <= keep_chunks_) return;
  std::size_t upto = writing - keep_chunks_;  // chunks < upto may go
  std::size_t hold = kNoHold;
  for (const auto& h : holds_) {
    const std::size_t v = h.load(std::memory_order_acquire);
    if (v < hold) hold = v;  // kFreeHold and kNoHold hold nothing
  }
  if (hold != kNoHold) {
    const std::size_t floor = writing > keep_chunks_ + hold_chunks_ ? writing - keep_chunks_ - hold_chunks_ : 0;
    upto = std::max(floor, std::min(upto, hold / options_.chunk_samples));
  }
  for (; next_drop_ < upto; ++next_drop_) retire_through(next_drop_);
}

std::size_t Sampler::add_hold(std::size_t from) {
  for (std::size_t id = 0; id < kMaxHolds; ++id) {
    std::size_t expected = kFreeHold;
    if (holds_[id].compare_exchange_strong(expected, std::min(from, kNoHold), std::memory_order_acq_rel)) return id;
  }
  throw std::length_error("the sampler already has " + std::to_string(kMaxHolds) +
                          " consumers holding samples (spools, trace logs); stop one before adding another");
}

void Sampler::hold_from(std::size_t id, std::size_t from) {
  auto unknown = [id] {
    return std::out_of_range("hold id " + std::to_string(id) + " is not registered (add_hold returns one)");
  };
  if (id >= kMaxHolds) throw unknown();
  // Compare-and-swap, so a remove_hold racing with this call is never undone (a freed slot
  // stays free instead of holding again).
  std::size_t cur = holds_[id].load(std::memory_order_acquire);
  do {
    if (cur == kFreeHold) throw unknown();
  } while (!holds_[id].compare_exchange_weak(cur, std::min(from, kNoHold), std::memory_order_acq_rel));
}

void Sampler::remove_hold(std::size_t id) noexcept {
  if (id < kMaxHolds) holds_[id].store(kFreeHold, std::memory_order_release);
}

void Sampler::reclaim() noexcept {
  if (retired_.empty() || readers_.load(std::memory_order_seq_cst) != 0) return;
  for (Chunk* c : retired_) {
    if (free_.size() < kMaxFreeChunks) free_.push_back(c); else delete c;
  }
  retired_.clear();
}

void Sampler::record_failure(const std::exception& e, bool count_as_read_error) {
  if (count_as_read_error) errors_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(error_mutex_);
  last_error_ = e.what();
}

// ---- sampling thread ------------------------------------------------------------------------

bool Sampler::account(const double* power, const double* counter, int64_t t, int32_t read_ns, int32_t late_ns) {
  lateness_.add(late_ns);
  read_.add(read_ns);
  if (size() == 0) first_t_ns_.store(t, std::memory_order_relaxed);
  last_t_ns_.store(t, std::memory_order_relaxed);
  // Identical readings and the effective update interval: power where the sensor gives it,
  // else the counters.
  const bool use_power = sensor_->info().has_power || !has_counter_;
  const double* v = use_power ? power : counter;
  bool changed = false;
  if (have_prev_) {
    bool eq = true;
    for (std::size_t r = 0; r < rails_ && eq; ++r) eq = same(v[r], prev_values_[r]);
    if (eq) {
      identical_.fetch_add(1, std::memory_order_relaxed);
    } else {
      if (changes_.load(std::memory_order_relaxed) == 0) first_change_ns_.store(t, std::memory_order_relaxed);
      last_change_ns_.store(t, std::memory_order_relaxed);
      changes_.fetch_add(1, std::memory_order_relaxed);
      changed = true;
    }
  }
  std::copy(v, v + rails_, prev_values_.begin());
  have_prev_ = true;
  for (std::size_t r = 0; r < rails_; ++r) {
    if (power[r] < 0) negative_[r].fetch_add(1, std::memory_order_relaxed);
  }
  if (!has_counter_) return changed;
  const SensorInfo& info = sensor_->info();
  const double update_s = std::isfinite(info.update_interval_s) && info.update_interval_s > 0 ? info.update_interval_s : 0.0;
  for (std::size_t r = 0; r < rails_; ++r) {
    const double c = counter[r];
    if (!std::isfinite(c)) continue;
    const double p = prev_counter_[r];
    if (std::isfinite(p) && c != p) {
      const double dt_s = (t - counter_change_ns_[r]) * 1e-9 + update_s;
      const CounterStep step =
          classify_counter_step(p, c, dt_s, info.counter_range_j, counter_change_known_[r] ? info.max_power_w : 0.0);
      if (step == CounterStep::Reset) {
        resets_[r].fetch_add(1, std::memory_order_relaxed);
        std::lock_guard<std::mutex> lock(error_mutex_);
        last_reset_ = "rail " + info.rails[r] + ": " + fmt(p) + " J -> " + fmt(c) + " J at t_ns=" + std::to_string(t);
        counter_change_known_[r] = 0;
      } else {
        counter_change_known_[r] = 1;
      }
      counter_change_ns_[r] = t;
    } else if (!std::isfinite(p)) {
      counter_change_ns_[r] = t;
    }
    prev_counter_[r] = c;
  }
  return changed;
}

void Sampler::run() {
  // The default 50 us timer slack would dominate lateness at 10 kHz.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (options_.realtime_priority > 0) {
    sched_param sp{};
    sp.sched_priority = options_.realtime_priority;
    realtime_.store(pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) == 0, std::memory_order_release);
  }
  const bool rolling = options_.memory_policy == MemoryPolicy::Rolling;
  const std::size_t cs = options_.chunk_samples;
  std::vector<double> power(rails_), counter(rails_);
  int consecutive = 0;
  std::size_t index = size();
  int64_t next = now_ns();
  std::unique_ptr<RefreshLock> lock;
  if (options_.refresh_lock) {
    RefreshLockOptions ro;
    ro.guess_period_s = refresh_guess_s_;
    ro.fallback_poll_ns = period_ns_;
    lock = std::make_unique<RefreshLock>(ro);
    next = lock->begin(next);
    publish(*lock);
  }
  auto stop_at_limit = [&](bool table) {
    {
      std::lock_guard<std::mutex> lock(error_mutex_);
      last_error_ = limit_message(table);
      stop_reason_ = table ? "chunk table" : "sample cap";
    }
    limit_reached_.store(true, std::memory_order_release);
    failed_.store(true, std::memory_order_release);
  };
  PreciseWake precise;  // refresh-locked reads aim at an instant: see wake.hpp
  while (!stop_requested_.load(std::memory_order_acquire)) {
    int64_t wake = now_ns();
    if (lock) {
      if (wake < next) wake = precise.sleep_until(next, stop_requested_, kStopSliceNs);
    } else {
      while (wake < next) {
        sleep_until_ns(std::min(next, wake + kStopSliceNs));
        wake = now_ns();
        if (stop_requested_.load(std::memory_order_acquire)) break;
      }
    }
    if (stop_requested_.load(std::memory_order_acquire)) break;
    if (!rolling && index >= max_samples_) {
      stop_at_limit(false);
      break;
    }
    std::fill(power.begin(), power.end(), kNaN);
    std::fill(counter.begin(), counter.end(), kNaN);
    bool ok = true;
    try {
      sensor_->read(power.data(), counter.data());
    } catch (const SensorExhausted& e) {
      record_failure(e, false);
      {
        std::lock_guard<std::mutex> lock(error_mutex_);
        stop_reason_ = "sensor finished";
      }
      finished_.store(true, std::memory_order_release);
      break;
    } catch (const std::exception& e) {
      ok = false;
      record_failure(e);
    }
    const int64_t t = now_ns();
    bool changed = false;
    if (ok) {
      consecutive = 0;
      Chunk* chunk;
      try {
        chunk = chunk_for_write(index);
      } catch (const std::exception&) {  // length_error: the table is full; bad_alloc
        stop_at_limit(true);
        break;
      }
      const std::size_t i = index % cs;
      if (rolling && i == 0) retire_behind(index / cs);
      const auto read_ns = static_cast<int32_t>(std::min<int64_t>(t - wake, INT32_MAX));
      const auto late_ns = static_cast<int32_t>(std::min<int64_t>(wake - next, INT32_MAX));
      chunk->t_ns[i] = t;
      chunk->read_ns[i] = read_ns;
      chunk->lateness_ns[i] = late_ns;
      std::copy(power.begin(), power.end(), chunk->power_w.begin() + i * rails_);
      if (has_counter_) std::copy(counter.begin(), counter.end(), chunk->counter_j.begin() + i * rails_);
      changed = account(power.data(), counter.data(), t, read_ns, late_ns);
      ++index;
      count_.store(index, std::memory_order_release);
      // Allocate the next chunk half a chunk ahead, in the slack before the next deadline.
      if (i == cs / 2 && (rolling || index / cs + 1 < options_.max_chunks)) {
        try {
          chunk_for_write(index + cs);
        } catch (const std::exception&) {  // bad_alloc: retried at the chunk boundary
        }
      }
      if (rolling && i == cs / 2) reclaim();  // chunks retired while a copy ran
    } else if (++consecutive >= options_.max_consecutive_failures) {
      {
        std::lock_guard<std::mutex> lock(error_mutex_);
        stop_reason_ = "failures";
      }
      failed_.store(true, std::memory_order_release);
      break;
    }
    if (lock) {
      next = ok ? lock->on_read(wake, t, changed) : lock->on_failure(t);
      publish(*lock);
      continue;
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

void Sampler::publish(const RefreshLock& lock) {
  const RefreshCounts& c = lock.counts();
  const double lat = lock.last_latency_ns();
  if (std::isfinite(lat)) refresh_latency_.add(static_cast<int32_t>(std::min(lat, 2e9)));
  refresh_state_.store(static_cast<int>(lock.state()), std::memory_order_relaxed);
  refresh_period_ns_.store(lock.period_ns(), std::memory_order_relaxed);
  refresh_phase_ns_.store(lock.phase_ns(), std::memory_order_relaxed);
  refreshes_.store(c.refreshes, std::memory_order_relaxed);
  refreshes_changed_.store(c.seen, std::memory_order_relaxed);
  refreshes_within_.store(c.within, std::memory_order_relaxed);
  refreshes_late_.store(c.late_wakeups, std::memory_order_relaxed);
  refresh_probes_.store(c.probes, std::memory_order_relaxed);
  refresh_probes_early_.store(c.early, std::memory_order_relaxed);
  if (c.learns != refresh_learns_.load(std::memory_order_relaxed) ||
      c.fallbacks != refresh_fallbacks_.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> guard(error_mutex_);
    refresh_note_ = lock.note();
    refresh_learns_.store(c.learns, std::memory_order_relaxed);
    refresh_fallbacks_.store(c.fallbacks, std::memory_order_relaxed);
  }
}

// ---- readers --------------------------------------------------------------------------------

std::size_t Sampler::copy(std::size_t begin, std::size_t end, int64_t* t_ns, int32_t* read_ns,
                          int32_t* lateness_ns, double* power_w, double* counter_j, std::size_t* first_copied) const {
  ReadGuard guard(readers_);
  const std::size_t cs = options_.chunk_samples;
  end = std::min(end, size());
  for (;;) {
    const std::size_t from = std::max(begin, first_index());
    if (first_copied) *first_copied = from;
    if (from >= end) return 0;
    std::size_t out = 0;
    bool dropped = false;
    for (std::size_t i = from; i < end;) {
      const std::size_t number = i / cs;
      const Chunk* chunk = chunks_[number % options_.max_chunks].load(std::memory_order_seq_cst);
      if (chunk == nullptr || chunk->number != number) {  // dropped by the rolling policy meanwhile
        dropped = true;
        break;
      }
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
    if (!dropped) return out;
  }
}

std::size_t Sampler::index_at_or_after(int64_t t) const {
  ReadGuard guard(readers_);
  const std::size_t cs = options_.chunk_samples;
  for (;;) {
    std::size_t lo = first_index(), hi = size();
    bool dropped = false;
    while (lo < hi) {
      const std::size_t mid = lo + (hi - lo) / 2;
      const Chunk* chunk = chunks_[(mid / cs) % options_.max_chunks].load(std::memory_order_seq_cst);
      if (chunk == nullptr || chunk->number != mid / cs) {
        dropped = true;
        break;
      }
      if (chunk->t_ns[mid % cs] < t) lo = mid + 1; else hi = mid;
    }
    if (!dropped) return lo;
  }
}

SampleBlock Sampler::copy_block(std::size_t begin, std::size_t end) const {
  SampleBlock b;
  b.rails = rails_;
  end = std::min(end, size());
  begin = std::max(begin, first_index());
  const std::size_t n = begin < end ? end - begin : 0;
  b.t_ns.resize(n);
  b.read_ns.resize(n);
  b.lateness_ns.resize(n);
  b.power_w.resize(n * rails_);
  if (has_counter_) b.counter_j.resize(n * rails_);
  const std::size_t got = copy(begin, begin + n, b.t_ns.data(), b.read_ns.data(), b.lateness_ns.data(),
                               b.power_w.data(), has_counter_ ? b.counter_j.data() : nullptr, &b.begin);
  b.t_ns.resize(got);
  b.read_ns.resize(got);
  b.lateness_ns.resize(got);
  b.power_w.resize(got * rails_);
  if (has_counter_) b.counter_j.resize(got * rails_);
  return b;
}

SamplerStats Sampler::stats() const {
  SamplerStats s;
  s.requested_rate_hz = options_.rate_hz;
  const std::size_t n = size();
  const std::size_t first = first_index();
  s.samples = n;
  s.retained_samples = n - std::min(first, n);
  s.dropped_samples = first;
  s.memory_policy = options_.memory_policy;
  s.max_samples = max_samples_;
  s.bytes_per_sample = bytes_per_sample_;
  s.limit_reached = limit_reached_.load(std::memory_order_acquire);
  s.finished = finished();
  s.missed_deadlines = missed_.load(std::memory_order_relaxed);
  s.read_errors = errors_.load(std::memory_order_relaxed);
  s.failed = failed();
  s.realtime = realtime();
  s.cpu_s = cpu_ns_.load(std::memory_order_relaxed) * 1e-9;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    s.last_error = last_error_;
    s.stop_reason = stop_reason_;
    s.last_counter_reset = last_reset_;
    s.refresh_note = refresh_note_;
  }
  if (options_.refresh_lock) {
    s.mode = "refresh";
    s.refresh_state = refresh_state_name(static_cast<RefreshState>(refresh_state_.load(std::memory_order_relaxed)));
    s.refresh_guess_s = refresh_guess_s_;
    s.refresh_period_s = refresh_period_ns_.load(std::memory_order_relaxed) * 1e-9;
    s.refresh_phase_ns = refresh_phase_ns_.load(std::memory_order_relaxed);
    s.refreshes = refreshes_.load(std::memory_order_relaxed);
    s.refreshes_changed = refreshes_changed_.load(std::memory_order_relaxed);
    s.refreshes_late = refreshes_late_.load(std::memory_order_relaxed);
    s.refresh_probes = refresh_probes_.load(std::memory_order_relaxed);
    s.refresh_probes_early = refresh_probes_early_.load(std::memory_order_relaxed);
    if (s.refreshes > 0) {
      s.refresh_within_50us_share =
          static_cast<double>(refreshes_within_.load(std::memory_order_relaxed)) / static_cast<double>(s.refreshes);
    }
    s.refresh_latency_p50_us = refresh_latency_.quantile_ns(0.50) / 1000.0;
    s.refresh_latency_p99_us = refresh_latency_.quantile_ns(0.99) / 1000.0;
    s.refresh_learns = refresh_learns_.load(std::memory_order_relaxed);
    s.refresh_fallbacks = refresh_fallbacks_.load(std::memory_order_relaxed);
  }
  s.counter_resets.resize(rails_);
  s.negative_power_samples.resize(rails_);
  for (std::size_t r = 0; r < rails_; ++r) {
    s.counter_resets[r] = resets_[r].load(std::memory_order_relaxed);
    s.negative_power_samples[r] = negative_[r].load(std::memory_order_relaxed);
  }
  s.effective_update_interval_s = kNaN;
  if (n >= 2) {
    s.duration_s = (last_t_ns_.load(std::memory_order_relaxed) - first_t_ns_.load(std::memory_order_relaxed)) * 1e-9;
    s.achieved_rate_hz = s.duration_s > 0 ? (n - 1) / s.duration_s : kNaN;
  }
  s.lateness_p50_us = lateness_.quantile_ns(0.50) / 1000.0;
  s.lateness_p99_us = lateness_.quantile_ns(0.99) / 1000.0;
  s.lateness_max_us = n ? lateness_.max() / 1000.0 : kNaN;
  s.read_p50_us = read_.quantile_ns(0.50) / 1000.0;
  s.read_p99_us = read_.quantile_ns(0.99) / 1000.0;
  s.read_max_us = n ? read_.max() / 1000.0 : kNaN;
  if (n >= 2) {
    const std::size_t changes = changes_.load(std::memory_order_relaxed);
    s.identical_share = static_cast<double>(identical_.load(std::memory_order_relaxed)) / static_cast<double>(n - 1);
    if (changes >= 2) {
      s.effective_update_interval_s =
          (last_change_ns_.load(std::memory_order_relaxed) - first_change_ns_.load(std::memory_order_relaxed)) * 1e-9 /
          static_cast<double>(changes - 1);
    }
  }
  return s;
}

}  // namespace edgepower
