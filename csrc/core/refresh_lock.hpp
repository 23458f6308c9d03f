#pragma once
// The schedule of refresh-locked sampling (SamplerOptions::refresh_lock): learns a sensor's
// refresh period and phase from the changes of its readings, then says when to read so that each
// refresh is read just after it happens. Pure logic on the times it is given (no clock, no
// sleeping), so tests drive it with a simulated sensor; the sampler feeds it its reads.
//
//  learning : poll every learn_poll_ns; each change is known to lie between the read that last
//             showed the old value and the one that showed the new (midpoint kept). After
//             min_changes changes, fit change_k = phase + k * period by least squares over all of
//             them (indices assigned with a period refined on 8, 16, 32, ... changes first).
//  locked   : per refresh k (predicted at phase + k * period): read after_ns after it; a read
//             that still shows the old value is followed by guard reads until the change or
//             2 guards (or 4 mean distances of probed changes from their prediction, if more) past
//             the instant (then: a refresh that came out the same). Some refreshes are probes
//             instead: reads every guard_ns from 2 guards before the predicted instant until the
//             change; the middle of the last old and first new read refines the fit (sliding
//             window of fit_window changes), so a sensor clock that drifts is followed. Probes
//             come every probe_every refreshes at first; each probe whose change lies within a
//             guard of the prediction doubles the spacing (up to max_probe_every), and one that
//             does not (or finds the refresh already done) sets it back to probe_every: a
//             steady sensor costs few reads, a drifting one is watched closely.
//             Learns again when probes find the refresh already done max_early times in a row.
//  fallback : no change for max_quiet refreshes (constant readings), a failed fit, or too few
//             changes while learning (fewer than min_changes in 2 * min_changes stated refreshes,
//             or in 1 s without a stated refresh: constant readings, or a long running average
//             that moves by an LSB at few refreshes): poll every fallback_poll_ns, say why in
//             note(); learn again once min_changes / 4 changes were seen while polling, no sooner
//             than 1 s, 2 s, ... 64 s after each fallback.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace edgepower {

enum class RefreshState { Learning, Locked, Fallback };
/// "learning" / "locked" / "fallback".
const char* refresh_state_name(RefreshState s);

struct RefreshLockOptions {
  double guess_period_s = std::numeric_limits<double>::quiet_NaN();  ///< the sensor's stated refresh, if any
  int64_t learn_poll_ns = 0;        ///< 0: guess / 64 within 50-200 us (100 us without a guess)
  int64_t fallback_poll_ns = 1'000'000;
  int64_t after_ns = 5'000;         ///< read this long after a predicted refresh
  int64_t guard_ns = 20'000;        ///< probe lead and spacing of the first guard reads
  int min_changes = 32;             ///< changes to fit before locking
  int fit_window = 128;             ///< bracketed changes the locked fit keeps
  int probe_every = 4;              ///< probe spacing (refreshes) after locking or a probe off the fit
  int max_probe_every = 32;         ///< probe spacing reached by probes on the fit (doubling)
  int max_quiet = 64;               ///< refreshes in a row without a change: fall back
  int max_early = 6;                ///< probes in a row that already saw the change: learn again
  int64_t learn_timeout_ns = 0;     ///< 0: 2 * min_changes stated refreshes (50 ms to 5 s), 1 s without a guess
  double within_ns = 50'000;        ///< "read within" this of the refresh (stats)
};

/// Counters of a RefreshLock (all since construction).
struct RefreshCounts {
  uint64_t refreshes = 0;       ///< predicted refreshes passed while locked
  uint64_t seen = 0;            ///< of them, refreshes whose change a read saw
  uint64_t within = 0;          ///< refreshes read (first read after it ended) within within_ns
  uint64_t late_wakeups = 0;    ///< refreshes whose window passed before any read (woken late, or a read that
                                ///< ended after further refreshes' after-reads were due)
  uint64_t early = 0;           ///< probes that found the refresh already done
  uint64_t learns = 0;          ///< learning phases started
  uint64_t fallbacks = 0;       ///< times it fell back to polling
  uint64_t fit_points = 0;      ///< bracketed changes that refined the locked fit
  uint64_t probes = 0;          ///< probes scheduled (reads from before a predicted refresh)
};

class RefreshLock {
 public:
  /// Throws std::invalid_argument for non-positive spacings or counts.
  explicit RefreshLock(RefreshLockOptions options = {});

  /// Starts learning at now_ns; returns the first read instant.
  int64_t begin(int64_t now_ns);
  /// One read that started at start_ns and ended at end_ns; changed: its values differ from the
  /// read before. Returns when to read next (absolute ns; may be in the past: read at once).
  int64_t on_read(int64_t start_ns, int64_t end_ns, bool changed);
  /// A failed read at now_ns: retry a guard spacing later.
  int64_t on_failure(int64_t now_ns);

  RefreshState state() const noexcept { return state_; }
  double period_ns() const noexcept { return period_ns_; }  ///< NaN until locked once
  /// A fitted refresh instant (CLOCK_MONOTONIC ns of refresh index 0 of the current fit); 0 before.
  int64_t phase_ns() const noexcept { return phase_origin_ + static_cast<int64_t>(phase_off_); }
  const RefreshCounts& counts() const noexcept { return counts_; }
  const std::string& note() const noexcept { return note_; }  ///< why it last fell back or re-learnt
  /// Latency of the read that first followed each locked refresh (ns after the predicted
  /// instant, >= 0); the sampler keeps its histogram. NaN when the last on_read closed none.
  double last_latency_ns() const noexcept { return last_latency_ns_; }
  const RefreshLockOptions& options() const noexcept { return o_; }

 private:
  enum class Step { Probe, After, Guard };
  int64_t start_learning(int64_t now, const std::string& why);
  int64_t fall_back(int64_t now, const std::string& why);
  int64_t learn_read(int64_t start, int64_t end, bool changed);
  int64_t locked_read(int64_t start, int64_t end, bool changed);
  int64_t fallback_read(int64_t start, int64_t end, bool changed);
  bool fit_learned(std::string* why);
  void refit();
  double predicted(int64_t k) const { return static_cast<double>(phase_origin_) + phase_off_ + k * period_ns_; }
  int64_t schedule(int64_t now);  // first read of refresh k_ (skipping refreshes already past)
  void close_refresh(bool seen, double latency_ns);
  void miss_refresh();
  void add_fit_point(double e);
  void probe_result(bool on_fit);

  RefreshLockOptions o_;
  RefreshState state_ = RefreshState::Learning;
  RefreshCounts counts_;
  std::string note_;
  double guess_ns_;
  int64_t window_ns_ = 0;
  // The previous read (any state).
  int64_t prev_start_ = 0, prev_end_ = 0;
  bool have_prev_ = false;
  // Learning.
  int64_t learn_start_ = 0;
  std::vector<double> learn_t_;  // change instants relative to phase_origin_
  // Fallback.
  int64_t next_poll_ = 0;
  int fallback_changes_ = 0;
  // Locked: model t_k = phase_origin_ + phase_off_ + k * period_ns_.
  int64_t phase_origin_ = 0;
  double phase_off_ = 0, period_ns_ = std::numeric_limits<double>::quiet_NaN();
  std::vector<int64_t> fit_k_;   // ring of bracketed changes
  std::vector<double> fit_t_;
  std::size_t fit_next_ = 0;
  int64_t k_ = 0;                // refresh being read
  Step step_ = Step::After;
  bool bracket_open_ = false;    // a read of refresh k_ showed the old value
  bool bracket_probe_ = false;   // that read was the probe before the predicted instant
  double bracket_mid_ = 0;       // middle of the last such read
  int64_t first_after_end_ = -1; // end of the first read of refresh k_ after its predicted instant
  int guards_ = 0;
  int probe_gap_ = 0;            // refreshes from one probe to the next (probe_every..max_probe_every)
  int64_t next_probe_k_ = 0;     // first refresh index that may be a probe
  int quiet_ = 0, early_run_ = 0;
  double dev_ns_ = 0;            // running mean |change - prediction| of bracketed changes
  double last_latency_ns_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace edgepower
