#include "counter_power.hpp"

#include <limits>

#include "../energy.hpp"

namespace edgepower {

void CounterPower::prime(const double* counter_j, std::size_t rails, double range_j, int64_t t_ns) {
  range_j_ = range_j;
  last_j_.assign(counter_j, counter_j + rails);
  last_t_ns_.assign(rails, t_ns);
  power_w_.assign(rails, std::numeric_limits<double>::quiet_NaN());
}

void CounterPower::update(const double* counter_j, int64_t t_ns, double* power_w) {
  for (std::size_t r = 0; r < last_j_.size(); ++r) {
    if (counter_j[r] != last_j_[r] && t_ns > last_t_ns_[r]) {
      const double delta_j = counter_delta(last_j_[r], counter_j[r], range_j_);
      power_w_[r] = delta_j / ((t_ns - last_t_ns_[r]) * 1e-9);
      last_j_[r] = counter_j[r];
      last_t_ns_[r] = t_ns;
    }
    power_w[r] = power_w_[r];
  }
}

}  // namespace edgepower
