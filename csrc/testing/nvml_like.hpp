#pragma once
// NVML-like emulated sensors, driven by a synthetic power source (e.g. a RegionSensor that
// follows the layers on the timeline), for accuracy studies without a GPU:
//  - NvmlCounterEmulator: like nvmlDeviceGetTotalEnergyConsumption, an energy counter (read in
//    whole mJ) that steps every period_s (100 ms): between steps it holds the exact energy up to
//    the last step.
//  - NvmlInstantEmulator: like the instant power field on A100/H100 (Yang et al., SC'24): every
//    period_s the reading becomes the mean power over the last window_s (25 ms) before the update,
//    plus Gaussian noise, read in whole mW; the other 75 % of the time is never observed.
// Update times lie on a grid origin + k * period_s; origin is construction time plus phase_s.
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>

#include "core/sensor.hpp"
#include "core/sensors/synthetic.hpp"

namespace edgepower {

struct NvmlLikeOptions {
  double period_s = 0.1;     ///< update period
  double window_s = 0.025;   ///< instant sensor: boxcar observed before each update (<= period_s)
  double noise_w = 0.0;      ///< instant sensor: Gaussian noise per update (W, std dev)
  double phase_s = 0.0;      ///< offset of the update grid from construction time, [0, period_s)
  uint64_t seed = 1;
  int64_t origin_ns = -1;    ///< time of update 0 (overrides construction time + phase_s)
};

/// Base: the update grid and the source. read() is called by one thread at a time.
class NvmlLikeSensor : public Sensor {
 public:
  /// Time of the latest update at or before t (ns).
  int64_t last_update_ns(int64_t t_ns) const;
  int64_t origin_ns() const noexcept { return origin_ns_; }
  double period_s() const noexcept { return period_ns_ * 1e-9; }
  /// Exact energy of the source's first rail over [t0, t1] (J).
  double true_energy_j(int64_t t0_ns, int64_t t1_ns) const;

 protected:
  NvmlLikeSensor(std::shared_ptr<SyntheticSensor> source, const NvmlLikeOptions& options, SensorInfo info);
  std::shared_ptr<SyntheticSensor> source_;
  NvmlLikeOptions options_;
  int64_t period_ns_;
  int64_t origin_ns_;
  double energy_at(int64_t t_ns) const;
};

class NvmlCounterEmulator : public NvmlLikeSensor {
 public:
  /// Throws std::invalid_argument for a bad period or a missing source.
  NvmlCounterEmulator(std::shared_ptr<SyntheticSensor> source, const NvmlLikeOptions& options = {});
  /// counter_j[0] = energy (J, whole mJ) at the latest update; power_w[0] stays NaN.
  void read(double* power_w, double* counter_j) override;
};

class NvmlInstantEmulator : public NvmlLikeSensor {
 public:
  /// Throws std::invalid_argument for a bad period or window or a missing source.
  NvmlInstantEmulator(std::shared_ptr<SyntheticSensor> source, const NvmlLikeOptions& options = {});
  /// power_w[0] = boxcar mean over the window before the latest update (+ noise, whole mW).
  void read(double* power_w, double* counter_j) override;
  /// The reading the sensor holds at t (without noise), W.
  double observed_w(int64_t t_ns) const;

 private:
  std::mutex mutex_;
  int64_t held_update_ns_ = INT64_MIN;
  double held_w_ = 0;
  std::mt19937_64 rng_;
  std::normal_distribution<double> noise_{0.0, 1.0};
};

}  // namespace edgepower
