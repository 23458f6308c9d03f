#pragma once
// Waking at an instant, not tens of microseconds after it (refresh-locked sampling).
//
// A sleep of milliseconds ends late by the time the CPU (and, in a VM, the hypervisor) takes
// to come back from idle: 20-90 us on the 2-CPU VMs this project is tested on (p1-p99 of a
// 2.2 ms clock_nanosleep with 1 ns timer slack). A short sleep taken right after a wake-up ends
// much closer to its deadline, because the CPU has not gone back into a deep idle state. So
// PreciseWake sleeps in two stages and spins the last few microseconds:
//   1. until t - lead, where lead is the recent 95th percentile of stage 1's own lateness plus a
//      margin (50-500 us), so stage 1 nearly always ends before t;
//   2. until t - short, where short is the recent 25th percentile of stage 2's lateness
//      (0-50 us), so stage 2 mostly ends just after t;
//   3. spins on the clock until t when stage 2 ended early (at most `short`).
// The lateness quantiles are tracked online (a fixed-step stochastic quantile estimate), so
// the stages follow the machine. Never returns before t unless stopped.
#include <atomic>
#include <cstdint>

namespace edgepower {

/// Online estimate of one quantile of a stream (ns): each value moves the estimate up by
/// p * step when above it and down by (1 - p) * step otherwise, which settles where a share p
/// of the values lies below. Deterministic; no allocation.
class QuantileTrack {
 public:
  QuantileTrack(double p, double initial_ns, double step_ns) : p_(p), q_(initial_ns), step_(step_ns) {}
  void add(double x) noexcept { q_ += x > q_ ? p_ * step_ : -(1.0 - p_) * step_; }
  double value() const noexcept { return q_; }

 private:
  double p_, q_, step_;
};

class PreciseWake {
 public:
  static constexpr int64_t kMinLeadNs = 50'000, kMaxLeadNs = 500'000, kLeadMarginNs = 20'000;
  static constexpr int64_t kMaxShortNs = 50'000;

  /// Stage 1 ends this long before the deadline.
  int64_t lead_ns() const noexcept;
  /// Stage 2 ends this long before the deadline.
  int64_t short_ns() const noexcept;
  /// What stage 1 and stage 2 observed (ns a sleep ended after its own deadline).
  void observe_long(int64_t late_ns) noexcept { long_.add(static_cast<double>(late_ns)); }
  void observe_short(int64_t late_ns) noexcept { short_.add(static_cast<double>(late_ns)); }

  /// Sleeps until t_ns as above; a stage-1 sleep is cut into slices of at most slice_ns and
  /// returns early (with the current time) once stop is set. Returns the time it woke (>= t_ns
  /// unless stopped). Nanoseconds spent spinning are added to *spun_ns when given.
  int64_t sleep_until(int64_t t_ns, const std::atomic<bool>& stop, int64_t slice_ns, int64_t* spun_ns = nullptr);

 private:
  QuantileTrack long_{0.95, 100'000, 2'000};
  QuantileTrack short_{0.25, 10'000, 1'000};
};

}  // namespace edgepower
