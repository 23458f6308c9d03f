#pragma once
// Power derived from energy counters (RAPL, hwmon energy, NVML energy), so counter-only sensors
// still give the sampler a usable power timeline.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgepower {

/// Per rail: power = counter difference / time difference between the last two readings at
/// which the counter changed, held while it does not change. A counter that steps every
/// T_upd (RAPL ~1 ms, NVML ~100 ms) read faster than T_upd would otherwise give spikes between
/// runs of zeros. The reading taken at prime() counts as the first change point; power is NaN
/// until the counter first changes after it. Not thread-safe (the sensor's read path only).
class CounterPower {
 public:
  /// range_j: the counters wrap at this many joules (0: never; the caller unwraps).
  void prime(const double* counter_j, std::size_t rails, double range_j, int64_t t_ns);
  /// Writes power_w[rails] (W) from this reading of the counters (J) taken at t_ns.
  void update(const double* counter_j, int64_t t_ns, double* power_w);
  bool primed() const noexcept { return !last_j_.empty(); }

 private:
  double range_j_ = 0;
  std::vector<double> last_j_;
  std::vector<int64_t> last_t_ns_;
  std::vector<double> power_w_;
};

}  // namespace edgepower
