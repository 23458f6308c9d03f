#pragma once
// Energy from power samples (trapezoid) and from counters (difference with wrap correction),
// window attribution, and statistics over repeats. Pure functions: thread-safe.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace edgepower {

/// Why an energy figure is NaN. Each code has a message from status_message().
enum class EnergyStatus : uint8_t {
  Ok = 0,
  NoSamples = 1,         ///< fewer than two samples
  BeforeFirstSample = 2, ///< the window starts before the first sample
  AfterLastSample = 3,   ///< the window ends after the last sample
  Reversed = 4,          ///< t1 < t0
  NotFinite = 5,         ///< a sample the window needs is NaN or infinite
  Unsorted = 6,          ///< sample timestamps go backwards
  CounterReset = 7,      ///< the energy counter reset inside the window (see classify_counter_step)
};
std::string status_message(EnergyStatus s);

struct EnergyResult {
  double energy_j;       ///< joules over [t0, t1]; NaN unless status == Ok
  double duration_s;     ///< t1 - t0
  double avg_power_w;    ///< energy / duration (NaN for a zero-length window)
  std::size_t num_samples;  ///< samples with t0 <= t <= t1
  EnergyStatus status;
  /// CounterReset only: the window split at its resets. partial_energy_j is the energy of the
  /// parts of [t0, t1] that counter readings on one side of a reset cover (joules; a lower
  /// bound), gap_s the time between the readings around each reset (seconds), whose energy is
  /// unknown. 0 otherwise.
  double partial_energy_j = 0.0;
  double gap_s = 0.0;
  std::size_t counter_resets = 0;  ///< resets between the readings the window needs
};

/// Energy over [t0_ns, t1_ns] of power samples p[i*stride] (W) at t_ns[i] (sorted ascending):
/// trapezoid over the measured timestamps with linear interpolation at both edges. Needs a
/// sample at or before t0 and one at or after t1; otherwise NaN with the status saying why.
EnergyResult integrate_power(const int64_t* t_ns, const double* power_w, std::size_t n,
                             std::size_t stride, int64_t t0_ns, int64_t t1_ns);

/// c1 - c0 for a counter that wraps at range_j (range 0: never wraps). One wrap at most.
double counter_delta(double c0_j, double c1_j, double range_j);

/// How an energy counter went from one reading to the next.
enum class CounterStep : uint8_t {
  Ok = 0,     ///< it rose (or stayed) by a physically possible amount
  Wrap = 1,   ///< it dropped and a wrap at range_j explains it
  Reset = 2,  ///< the counter restarted (driver reload, firmware, suspend) or jumped: the energy
              ///< between the two readings is unknown
};

/// Classifies the step c0_j -> c1_j (joules) of a counter that wraps at range_j (0: never).
/// energy_dt_s is the time the step's energy can have accumulated over (seconds; the time since
/// the counter last changed plus its update interval), max_power_w a physical bound on the
/// sensor's power (W; 0 or non-finite: none). A Reset is:
///  - a drop with no wrap range (range_j == 0), or one whose wrap-corrected step exceeds half the
///    range (a wrap passes the top once; a restart from near 0 does not), or
///  - a step (wrap-corrected) implying more than max_power_w over energy_dt_s.
/// Non-finite readings are Ok (the caller treats NaN separately). Pure, thread-safe.
CounterStep classify_counter_step(double c0_j, double c1_j, double energy_dt_s, double range_j,
                                  double max_power_w);
/// Cumulative energy (J) from raw counter readings: out[0] = 0, wraps corrected between readings.
void unwrap_counter(const double* counter_j, std::size_t n, std::size_t stride, double range_j,
                    double* out_j);
/// Energy over [t0, t1] from counter readings, linearly interpolated between readings at both
/// edges after unwrapping. Same coverage rules as integrate_power. Every step between the
/// readings the window needs is classified (classify_counter_step with max_power_w and the
/// counter's update_interval_s, 0 if unknown): across a reset the energy is never integrated;
/// the result is NaN with status CounterReset, and partial_energy_j / gap_s / counter_resets say
/// what the readings on either side of the reset(s) cover. A window that lies wholly before or
/// after a reset is measured normally.
EnergyResult counter_energy(const int64_t* t_ns, const double* counter_j, std::size_t n,
                            std::size_t stride, double range_j, int64_t t0_ns, int64_t t1_ns,
                            double max_power_w = 0.0, double update_interval_s = 0.0);

/// Energy of many windows [t0[k], t1[k]] (any order, may overlap) over the same power samples
/// in one sweep: a cumulative trapezoid is built once, window edges are sorted and located in
/// a single pass. Writes energy_j[k], num_samples[k], status[k]. O(n + w log w).
void attribute_windows(const int64_t* t_ns, const double* power_w, std::size_t n,
                       std::size_t stride, const int64_t* t0_ns, const int64_t* t1_ns,
                       std::size_t num_windows, double* energy_j, int64_t* num_samples,
                       uint8_t* status);

/// Assigns each power sample to the innermost window active at its timestamp: among windows
/// with t0 <= t < t1 (half-open, so a sample on a shared edge goes to the window that starts
/// there), the one begun last (ties: the later index). Windows come in any order and may nest
/// (a layer inside the whole-model window); samples must be ascending (std::invalid_argument
/// otherwise). Non-finite power samples are assigned to no window. Writes num_samples[k] and
/// power_sum_w[k] (sum of the assigned samples' watts) per window and, when owner is not null,
/// owner[i] = window of sample i or -1. One sweep: O(n + w log w + n * nesting depth).
/// This is the sampling estimator of in-situ profiling: a window's mean power is
/// power_sum_w / num_samples, unbiased when sample phases are spread over the windows.
void assign_samples_innermost(const int64_t* t_ns, const double* power_w, std::size_t n,
                              std::size_t stride, const int64_t* t0_ns, const int64_t* t1_ns,
                              std::size_t num_windows, int64_t* num_samples, double* power_sum_w,
                              int64_t* owner);

/// Mean, sample standard deviation and 95% confidence half-width (Student t) of values.
struct RepeatStats {
  std::size_t n = 0;
  double mean = 0, stddev = 0, ci95_half_width = 0;  ///< NaN where undefined (n < 2 for spread)
};
RepeatStats repeat_stats(const double* values, std::size_t n);
/// Quantile of Student's t distribution with df degrees of freedom (p in (0, 1), df >= 1).
double student_t_quantile(double p, double df);
/// Energy above an idle baseline: gross_j - idle_power_w * duration_s.
inline double net_energy(double gross_j, double idle_power_w, double duration_s) {
  return gross_j - idle_power_w * duration_s;
}

}  // namespace edgepower
