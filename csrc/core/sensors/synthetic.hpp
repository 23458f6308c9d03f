#pragma once
// Synthetic sensors with known power profiles, for tests, benchmarks and demos. Each reports
// estimated = false (the profile is exact by construction) and kind "synthetic-*".
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "../sensor.hpp"
#include "../timeline.hpp"

namespace edgepower {

struct SyntheticOptions {
  double refresh_s = 0.0;        ///< sample-and-hold: the value changes only every refresh_s (0: live)
  double noise_w = 0.0;          ///< Gaussian noise added to each reading (standard deviation, W)
  uint64_t seed = 1;             ///< noise seed
  bool counter = false;          ///< also expose an exact energy counter per rail
  bool power = true;             ///< false: counter only (power_w stays NaN), like a bare RAPL zone
  double counter_range_j = 0.0;  ///< the counter wraps at this many joules (0: never)
  int64_t origin_ns = -1;        ///< time zero of the profile; -1: construction time
};

/// Base: a profile power_at(t) (W per rail) and, for counters, its exact integral from origin.
class SyntheticSensor : public Sensor {
 public:
  void read(double* power_w, double* counter_j) override;
  /// Power of every rail at t (no noise, no hold); thread-safe for const profiles.
  virtual void power_at(int64_t t_ns, double* out_w) = 0;
  /// Energy of every rail from origin to t (J), exact.
  virtual void energy_at(int64_t t_ns, double* out_j) = 0;
  int64_t origin_ns() const { return origin_ns_; }

 protected:
  SyntheticSensor(std::string kind, std::string description, std::vector<std::string> rails,
                  const SyntheticOptions& options);
  SyntheticOptions options_;
  int64_t origin_ns_;
  int64_t refresh_ns_;

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
};

/// Constant power per rail.
class ConstantSensor : public SyntheticSensor {
 public:
  explicit ConstantSensor(std::vector<double> watts, const SyntheticOptions& options = {},
                          std::vector<std::string> rails = {});
  void power_at(int64_t t_ns, double* out_w) override;
  void energy_at(int64_t t_ns, double* out_j) override;

 private:
  std::vector<double> watts_;
};

/// One rail alternating high_w for duty*period_s then low_w, starting high at origin.
class SquareSensor : public SyntheticSensor {
 public:
  SquareSensor(double low_w, double high_w, double period_s, double duty = 0.5,
               const SyntheticOptions& options = {});
  void power_at(int64_t t_ns, double* out_w) override;
  void energy_at(int64_t t_ns, double* out_j) override;

 private:
  double low_w_, high_w_;
  int64_t period_ns_, high_ns_;
};

/// One rail following breakpoints (times_s from origin, ascending; watts), linear between them
/// or held (step); constant before the first and after the last breakpoint.
class PiecewiseSensor : public SyntheticSensor {
 public:
  PiecewiseSensor(std::vector<double> times_s, std::vector<double> watts, bool step = false,
                  const SyntheticOptions& options = {});
  void power_at(int64_t t_ns, double* out_w) override;
  void energy_at(int64_t t_ns, double* out_j) override;

 private:
  std::vector<int64_t> t_ns_;
  std::vector<double> watts_;
  bool step_;
};

/// One rail whose power follows the timeline: the level of the innermost (latest begun) active
/// region that has one, else idle_w. Regions without a level are transparent.
class RegionSensor : public SyntheticSensor {
 public:
  RegionSensor(TimelinePtr timeline, std::map<std::string, double> levels_w, double idle_w,
               const SyntheticOptions& options = {});
  void power_at(int64_t t_ns, double* out_w) override;
  void energy_at(int64_t t_ns, double* out_j) override;
  const std::map<std::string, double>& levels() const { return levels_w_; }
  const TimelinePtr& timeline() const { return timeline_; }

 private:
  void catch_up();  // consume new timeline marks into segments_
  struct Segment { int64_t t0_ns; double power_w; double energy_before_j; };
  TimelinePtr timeline_;
  std::map<std::string, double> levels_w_;
  double idle_w_;
  std::mutex mutex_;
  std::size_t consumed_ = 0;
  std::vector<std::pair<int32_t, int64_t>> active_;  // (region, begin time), in begin order
  std::vector<Segment> segments_;                    // power changes, ascending time
};

/// Wraps a sensor: the first ok_reads succeed, the next fail_reads throw (forever if < 0), then
/// reads succeed again. For testing error counting and stopping.
class FailingSensor : public Sensor {
 public:
  FailingSensor(SensorPtr inner, long ok_reads, long fail_reads, std::string message = "injected failure");
  void read(double* power_w, double* counter_j) override;

 private:
  SensorPtr inner_;
  long ok_reads_, fail_reads_, reads_ = 0;
  std::string message_;
};

}  // namespace edgepower
