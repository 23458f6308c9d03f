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
/// until the counter first changes after it.
/// A counter reset (classify_counter_step in energy.hpp: a drop the wrap range does not explain,
/// or a step beyond max_power_w) gives no power: the rail is primed again at the reset reading,
/// its power is NaN until the counter next changes, and resets() counts it. The power bound is
/// only applied once a change point is known (the first change after prime() may carry energy
/// from before it). Not thread-safe (the sensor's read path only).
class CounterPower {
 public:
  /// range_j: the counters wrap at this many joules (0: never; the caller unwraps).
  /// max_power_w: physical bound per rail (W; 0: none). update_interval_s: how often the
  /// counter updates (s; 0 or NaN: unknown), added to the time a step's energy can span.
  void prime(const double* counter_j, std::size_t rails, double range_j, int64_t t_ns, double max_power_w = 0.0,
             double update_interval_s = 0.0);
  /// Writes power_w[rails] (W) from this reading of the counters (J) taken at t_ns.
  void update(const double* counter_j, int64_t t_ns, double* power_w);
  bool primed() const noexcept { return !last_j_.empty(); }
  /// Resets detected on rail r since prime() was first called.
  std::size_t resets(std::size_t r) const { return r < resets_.size() ? resets_[r] : 0; }

 private:
  double range_j_ = 0;
  double max_power_w_ = 0;
  double update_s_ = 0;
  std::vector<double> last_j_;
  std::vector<int64_t> last_t_ns_;
  std::vector<double> power_w_;
  std::vector<uint8_t> change_known_;
  std::vector<std::size_t> resets_;
};

}  // namespace edgepower
