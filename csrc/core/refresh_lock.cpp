#include "refresh_lock.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace edgepower {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kMaxFallbackHoldNs = 64'000'000'000LL;
constexpr int64_t kMinLearnNs = 50'000'000;  // learning polls at least this long
// ... and at most this long: 2 * 32 stated refreshes fit in it up to 78 ms; a refresh slower than
// 5 s / 32 = 156 ms cannot lock, and gains nothing from it (1 kHz polling reads it within 1 ms,
// under 0.7 % of its period). Before: a stated 430 ms (pre-2021 INA3221 drivers report the
// averaging in update_interval) kept the learning poll of 200 us going for 27.5 s.
constexpr int64_t kMaxLearnNs = 5'000'000'000LL;
constexpr int64_t kFreshFit = std::numeric_limits<int64_t>::min() / 2;  // k_ before a fit's first refresh

std::string us(double ns) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", ns * 1e-3);
  return buf;
}

// Least squares t = a + b k over the points; false when fewer than 2 distinct k.
bool line_fit(const int64_t* k, const double* t, std::size_t n, double* a, double* b) {
  if (n < 2) return false;
  double km = 0, tm = 0;
  for (std::size_t i = 0; i < n; ++i) {
    km += static_cast<double>(k[i]);
    tm += t[i];
  }
  km /= static_cast<double>(n);
  tm /= static_cast<double>(n);
  double skk = 0, skt = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double dk = static_cast<double>(k[i]) - km;
    skk += dk * dk;
    skt += dk * (t[i] - tm);
  }
  if (!(skk > 0)) return false;
  *b = skt / skk;
  *a = tm - *b * km;
  return true;
}
}  // namespace

const char* refresh_state_name(RefreshState s) {
  switch (s) {
    case RefreshState::Learning: return "learning";
    case RefreshState::Locked: return "locked";
    case RefreshState::Fallback: return "fallback";
  }
  return "?";
}

RefreshLock::RefreshLock(RefreshLockOptions options) : o_(options) {
  guess_ns_ = std::isfinite(o_.guess_period_s) && o_.guess_period_s > 0 ? o_.guess_period_s * 1e9 : kNaN;
  if (o_.learn_poll_ns == 0) {
    o_.learn_poll_ns = std::isfinite(guess_ns_)
                           ? std::clamp<int64_t>(static_cast<int64_t>(guess_ns_ / 64), 50'000, 200'000)
                           : 100'000;
  }
  if (o_.learn_timeout_ns == 0) {
    // With a stated refresh: min_changes changes in 2 * min_changes stated refreshes (one change
    // per two). A reading that changes less often than that (constant power, or a long running
    // average such as an INA3221 at N=512, whose register moves by an LSB at about 1 in 13 of its
    // refreshes) would make the locked reads mostly return the same value, so learning stops
    // there instead of polling fast for a second (at N=512: 54 ms of 50 us polls, not 1 s).
    o_.learn_timeout_ns = std::isfinite(guess_ns_)
                              ? std::clamp<int64_t>(static_cast<int64_t>(std::min(2.0 * o_.min_changes * guess_ns_, 1e18)),
                                                    kMinLearnNs, kMaxLearnNs)
                              : 1'000'000'000LL;
  }
  if (o_.learn_poll_ns <= 0 || o_.fallback_poll_ns <= 0 || o_.after_ns < 0 || o_.guard_ns <= 0 ||
      o_.min_changes < 8 || o_.fit_window < 8 || o_.probe_every < 1 || o_.max_probe_every < o_.probe_every ||
      o_.max_quiet < 1 || o_.max_early < 1 || !(o_.within_ns > 0)) {
    throw std::invalid_argument("refresh lock: poll and guard spacings must be > 0 ns, min_changes and fit_window "
                                ">= 8, probe_every, max_quiet and max_early >= 1, max_probe_every >= probe_every");
  }
  fit_k_.reserve(static_cast<std::size_t>(o_.fit_window));
  fit_t_.reserve(static_cast<std::size_t>(o_.fit_window));
}

int64_t RefreshLock::begin(int64_t now_ns) {
  have_prev_ = false;
  return start_learning(now_ns, "");
}

int64_t RefreshLock::start_learning(int64_t now, const std::string& why) {
  if (!why.empty()) note_ = why;
  state_ = RefreshState::Learning;
  ++counts_.learns;
  learn_start_ = now;
  phase_origin_ = now;
  phase_off_ = 0;
  learn_t_.clear();
  return now;
}

int64_t RefreshLock::fall_back(int64_t now, const std::string& why) {
  note_ = why;
  state_ = RefreshState::Fallback;
  ++counts_.fallbacks;
  fallback_changes_ = 0;
  // Each fallback holds longer before learning again (1 s, 2 s, ... 64 s), so a sensor whose
  // changes never line up costs little fast polling.
  const int shift = static_cast<int>(std::min<uint64_t>(counts_.fallbacks - 1, 6));
  next_poll_ = now + std::min<int64_t>(kMaxFallbackHoldNs, int64_t{1'000'000'000} << shift);  // learn no earlier
  return now + o_.fallback_poll_ns;
}

int64_t RefreshLock::on_failure(int64_t now_ns) {
  have_prev_ = false;  // a change across a failed read is not bracketed
  return now_ns + (state_ == RefreshState::Fallback ? o_.fallback_poll_ns : o_.guard_ns);
}

int64_t RefreshLock::on_read(int64_t start, int64_t end, bool changed) {
  last_latency_ns_ = kNaN;
  int64_t next = 0;
  switch (state_) {
    case RefreshState::Learning: next = learn_read(start, end, changed); break;
    case RefreshState::Locked: next = locked_read(start, end, changed); break;
    case RefreshState::Fallback: next = fallback_read(start, end, changed); break;
  }
  prev_start_ = start;
  prev_end_ = end;
  have_prev_ = true;
  return next;
}

// ---- learning -------------------------------------------------------------------------------

int64_t RefreshLock::learn_read(int64_t start, int64_t end, bool changed) {
  // A change between two polls close together: its instant is known to half a poll.
  if (changed && have_prev_ && start - prev_start_ <= 3 * o_.learn_poll_ns) {
    const double e = 0.25 * static_cast<double>(prev_start_ + prev_end_ + start + end);
    learn_t_.push_back(e - static_cast<double>(phase_origin_));
  }
  if (static_cast<int>(learn_t_.size()) >= o_.min_changes) {
    std::string why;
    if (fit_learned(&why)) {
      state_ = RefreshState::Locked;
      quiet_ = 0;
      early_run_ = 0;
      return schedule(end);
    }
    return fall_back(end, why + "; polling every " + us(static_cast<double>(o_.fallback_poll_ns)));
  }
  if (end - learn_start_ > o_.learn_timeout_ns) {
    std::string per;
    if (std::isfinite(guess_ns_)) {
      per = ", about " + std::to_string(std::llround(static_cast<double>(end - learn_start_) / guess_ns_)) +
            " of the sensor's stated refreshes of " + us(guess_ns_);
      if (o_.learn_timeout_ns == kMaxLearnNs && 2.0 * o_.min_changes * guess_ns_ > static_cast<double>(kMaxLearnNs)) {
        per += " (learning stops after 5 s: a refresh that slow gains nothing from a lock, polling reads it soon enough)";
      }
    }
    return fall_back(end, "only " + std::to_string(learn_t_.size()) + " reading changes in " +
                              us(static_cast<double>(end - learn_start_)) + " of polling every " +
                              us(static_cast<double>(o_.learn_poll_ns)) + per + " (need " +
                              std::to_string(o_.min_changes) + " to fit the refresh): constant readings? Or a reading that "
                              "changes at few of its refreshes, as a long running average does (locked reads would "
                              "mostly see the same value). Polling every " +
                              us(static_cast<double>(o_.fallback_poll_ns)));
  }
  return start + o_.learn_poll_ns;
}

bool RefreshLock::fit_learned(std::string* why) {
  const std::size_t n = learn_t_.size();
  std::vector<double> d(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) d[i] = learn_t_[i + 1] - learn_t_[i];
  std::sort(d.begin(), d.end());
  // The period: the largest P (the shortest interval divided by 1, 2, ... 8) of which nearly every
  // interval is a whole multiple. A reading that does not change at every refresh (a running
  // average that moves by less than an LSB) leaves intervals of several refreshes: P is refined
  // on the intervals in ascending order (each one of j periods that fits moves P to the sum of
  // the fitting intervals over the sum of their j), so that intervals of tens of periods are
  // judged against a P known to a fraction of their error, not to the shortest interval's.
  const double tol0 = static_cast<double>(o_.learn_poll_ns) + 20'000.0;  // a change is seen up to a poll late
  const double shortest = d[std::min<std::size_t>(1, d.size() - 1)];     // the second: one outlier aside
  double b = kNaN;
  for (int m = 1; m <= 8; ++m) {
    double p = shortest / m;
    if (p < 3.0 * tol0) break;  // finer, any change sits within tol0 of some multiple: no test
    // An interval of j periods is off by up to two changes' errors plus j times p's own error
    // (two changes' errors over the periods that p was taken from); never more than a third of p.
    double sx = shortest, sj = m;
    std::size_t fit = 0;
    for (double x : d) {
      const double j = std::nearbyint(x / p);
      if (std::fabs(x - j * p) > std::min(p / 3.0, 2.0 * tol0 + j * 2.0 * tol0 / sj)) continue;
      ++fit;
      if (j >= 1) {
        sx += x;
        sj += j;
        p = sx / sj;
      }
    }
    if (fit * 10 >= d.size() * 9) {
      b = p;
      break;
    }
  }
  if (!std::isfinite(b)) {
    b = shortest;  // the residual check below says why it does not fit
  }
  double a = learn_t_[0];
  if (!(b >= 3.0 * tol0)) {
    *why = "readings changed every " + us(b) + ", too fast to lock to with polls every " +
           us(static_cast<double>(o_.learn_poll_ns)) + " (need 3 x " + us(tol0) + ")";
    return false;
  }
  // Refine on the first 8, 16, 32, ... changes so that the index of each change is never a
  // whole refresh off (the first guess is known to a poll, not to a poll over n refreshes).
  std::vector<int64_t> k(n);
  std::vector<double> res(n);
  for (std::size_t m = std::min<std::size_t>(8, n);; m = std::min(n, 2 * m)) {
    for (std::size_t i = 0; i < m; ++i) k[i] = std::llround((learn_t_[i] - a) / b);
    double a2 = a, b2 = b;
    if (line_fit(k.data(), learn_t_.data(), m, &a2, &b2) && b2 > 0) {
      a = a2;
      b = b2;
    }
    if (m == n) break;
  }
  // Every change must sit on the grid within a poll (it is seen up to one poll late).
  const double tol = static_cast<double>(o_.learn_poll_ns) + 20'000.0;
  std::size_t off = 0;
  double ss = 0;
  for (std::size_t i = 0; i < n; ++i) {
    res[i] = learn_t_[i] - (a + b * static_cast<double>(k[i]));
    ss += res[i] * res[i];
    if (std::fabs(res[i]) > tol) ++off;
  }
  if (off > n / 10) {
    *why = std::to_string(off) + " of " + std::to_string(n) + " reading changes lie more than " + us(tol) +
           " off one period of " + us(b) + " (rms " + us(std::sqrt(ss / static_cast<double>(n))) +
           "): the readings do not change on a regular refresh";
    return false;
  }
  period_ns_ = b;
  phase_off_ = a;
  dev_ns_ = static_cast<double>(o_.guard_ns);
  window_ns_ = std::min<int64_t>(static_cast<int64_t>(b / 3), 1'500'000);
  fit_k_.clear();
  fit_t_.clear();
  fit_next_ = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (std::fabs(res[i]) > tol) continue;
    if (static_cast<int>(fit_k_.size()) == o_.fit_window) break;
    fit_k_.push_back(k[i]);
    fit_t_.push_back(learn_t_[i]);
  }
  fit_next_ = fit_k_.size() % static_cast<std::size_t>(o_.fit_window);
  k_ = kFreshFit;  // indices restart with this fit
  probe_gap_ = o_.probe_every;
  next_probe_k_ = k_;  // the first refresh after locking is a probe
  if (std::isfinite(guess_ns_) && std::fabs(b - guess_ns_) > 0.5 * guess_ns_) {
    note_ = "fitted refresh " + us(b) + " is far from the sensor's stated " + us(guess_ns_);
  }
  return true;
}

// ---- locked ---------------------------------------------------------------------------------

void RefreshLock::miss_refresh() {
  // A refresh whose whole window passed before a read: a late wake-up, not read in time.
  ++counts_.late_wakeups;
  close_refresh(false, kNaN);
}

int64_t RefreshLock::schedule(int64_t now) {
  // The first refresh whose after-read is still ahead (a late wake-up skips and counts the rest).
  const double rel = static_cast<double>(now - phase_origin_) - phase_off_ - static_cast<double>(o_.after_ns);
  const auto k = static_cast<int64_t>(std::ceil(rel / period_ns_));
  if (k_ != kFreshFit && k > k_ + 1) {
    // The last read ended after the next refreshes' after-reads were due (a read or the thread
    // held up for more than a period): those refreshes were not read in time. Counted as late
    // wake-ups, so that the share read within 50 us is over every refresh that passed.
    for (int64_t skipped = k - k_ - 1; skipped > 0; --skipped) miss_refresh();
  }
  k_ = std::max(k_ + 1, k);
  bracket_open_ = false;
  guards_ = 0;
  first_after_end_ = -1;
  const double t = predicted(k_);
  // Probes start early enough that changes seldom come before them (a change before the probe is
  // a censored observation: only an upper bound), 2 guards plus 3 mean distances of changes from
  // their prediction.
  const auto lead = static_cast<int64_t>(std::min(0.5 * static_cast<double>(window_ns_),
                                                  2.0 * static_cast<double>(o_.guard_ns) + 3.0 * dev_ns_));
  if (k_ >= next_probe_k_ && t - static_cast<double>(lead) > static_cast<double>(now)) {
    step_ = Step::Probe;
    ++counts_.probes;
    next_probe_k_ = k_ + probe_gap_;
    return static_cast<int64_t>(std::llround(t)) - lead;
  }
  step_ = Step::After;
  return static_cast<int64_t>(std::llround(t)) + o_.after_ns;
}

void RefreshLock::close_refresh(bool seen, double latency_ns) {
  ++counts_.refreshes;
  if (seen) ++counts_.seen;
  if (std::isfinite(latency_ns)) {
    last_latency_ns_ = std::max(0.0, latency_ns);
    if (last_latency_ns_ <= o_.within_ns) ++counts_.within;
  }
}

void RefreshLock::refit() {
  double a = phase_off_, b = period_ns_;
  if (line_fit(fit_k_.data(), fit_t_.data(), fit_k_.size(), &a, &b) && b > 0) {
    phase_off_ = a;
    period_ns_ = b;
  }
}

void RefreshLock::probe_result(bool on_fit) {
  probe_gap_ = on_fit ? std::min(2 * probe_gap_, o_.max_probe_every) : o_.probe_every;
  if (!on_fit) next_probe_k_ = std::min(next_probe_k_, k_ + probe_gap_);
}

void RefreshLock::add_fit_point(double e) {
  const double rel = e - static_cast<double>(phase_origin_);
  if (static_cast<int>(fit_k_.size()) < o_.fit_window) {
    fit_k_.push_back(k_);
    fit_t_.push_back(rel);
  } else {
    fit_k_[fit_next_] = k_;
    fit_t_[fit_next_] = rel;
  }
  fit_next_ = (fit_next_ + 1) % static_cast<std::size_t>(o_.fit_window);
  ++counts_.fit_points;
  refit();
}

int64_t RefreshLock::locked_read(int64_t start, int64_t end, bool changed) {
  double t = predicted(k_);
  // Woken after the whole window of refresh k_ (and maybe more) passed: those were not read in time.
  while (static_cast<double>(start) > t + static_cast<double>(window_ns_)) {
    miss_refresh();
    ++k_;
    bracket_open_ = false;
    guards_ = 0;
    first_after_end_ = -1;
    step_ = Step::After;
    changed = false;  // the change this read saw belongs to a refresh already counted
    t = predicted(k_);
  }
  const double mid = 0.5 * static_cast<double>(start + end);
  if (static_cast<double>(start) >= t && first_after_end_ < 0) first_after_end_ = end;
  if (changed) {
    if (step_ == Step::Probe && !bracket_open_ && static_cast<double>(start) < t - static_cast<double>(o_.guard_ns) &&
        static_cast<double>(end) < t) {
      // The probe's first read, started a guard before the predicted instant or earlier and ended
      // before it (a read delayed past that, as one that waits for the writer of the register or
      // is preempted mid-way, proves nothing), already saw it: the prediction runs late. The fit
      // takes it as a change a guard before the read; learn again when it keeps happening.
      ++counts_.early;
      probe_result(false);
      close_refresh(true, kNaN);
      add_fit_point(mid - static_cast<double>(o_.guard_ns));  // before this read: say, a guard before
      if (++early_run_ >= o_.max_early) {
        return start_learning(end, "the refresh came before the predicted instant in " +
                                       std::to_string(early_run_) + " probes in a row: learning again");
      }
      return schedule(end);
    }
    // A probe polls every guard from before the predicted instant: its grid is placed by the
    // prediction, but the change falls in one cell of it, whose middle estimates the change
    // within half a guard without bias towards the prediction. After-reads and their guards are
    // not used: they bracket a change only when it came late, a biased set.
    if (bracket_open_) {
      const double e = 0.5 * (bracket_mid_ + mid);
      if (step_ == Step::Probe) {
        // How far changes fall from the prediction (a writer that wakes late, a busy machine):
        // the reads look that much further for a change. Probes only: a change bracketed by
        // after-reads came late by selection, and with sparse probes those would drive the mean
        // up and every unchanged refresh would cost reads for nothing.
        dev_ns_ += (std::fabs(e - t) - dev_ns_) / 16.0;
        early_run_ = 0;
        probe_result(std::fabs(e - t) <= static_cast<double>(o_.guard_ns));
        if (std::fabs(e - t) < static_cast<double>(window_ns_)) add_fit_point(e);
      }
    }
    quiet_ = 0;
    close_refresh(true, static_cast<double>(end) - t);
    return schedule(end);
  }
  bracket_open_ = true;
  bracket_mid_ = mid;
  // Reads look for the change only this long after the predicted instant: 2 guards, or 4 times
  // the mean distance of changes from their prediction where that is more (at most the window).
  // A reading still unchanged then is a refresh that came out the same (noise below one LSB,
  // constant power: a sixth of the refreshes of an INA3221 whose noise is about one LSB), and
  // each further read for it would be wasted.
  const double look = std::min(static_cast<double>(window_ns_),
                               static_cast<double>(o_.after_ns) + std::max(2.0 * o_.guard_ns, 4.0 * dev_ns_));
  if (static_cast<double>(end) > t + look) {
    // No change in the whole window: a refresh whose reading came out the same.
    close_refresh(false, first_after_end_ >= 0 ? static_cast<double>(first_after_end_) - t : kNaN);
    if (++quiet_ >= o_.max_quiet) {
      return fall_back(end, "readings did not change at " + std::to_string(quiet_) +
                                " refreshes in a row (constant power, or a reading that does not change at every "
                                "refresh): polling every " + us(static_cast<double>(o_.fallback_poll_ns)));
    }
    return schedule(end);
  }
  const auto ti = static_cast<int64_t>(std::llround(t));
  if (step_ == Step::Probe) return start + o_.guard_ns;
  // After-read still old: guard reads until the change.
  if (static_cast<double>(start) < t) return ti + o_.after_ns;
  ++guards_;
  step_ = Step::Guard;
  return start + o_.guard_ns;
}

// ---- fallback -------------------------------------------------------------------------------

int64_t RefreshLock::fallback_read(int64_t start, int64_t end, bool changed) {
  if (changed) ++fallback_changes_;
  if (fallback_changes_ >= std::max(4, o_.min_changes / 4) && end >= next_poll_) {
    return start_learning(end, std::to_string(fallback_changes_) + " reading changes while polling after a "
                               "fallback: learning the refresh again");
  }
  return start + o_.fallback_poll_ns;
}

}  // namespace edgepower
