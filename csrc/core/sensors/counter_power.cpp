#include "counter_power.hpp"

#include <cmath>
#include <limits>

#include "../energy.hpp"

namespace edgepower {

void CounterPower::prime(const double* counter_j, std::size_t rails, double range_j, int64_t t_ns,
                         double max_power_w, double update_interval_s) {
  range_j_ = range_j;
  max_power_w_ = max_power_w;
  update_s_ = std::isfinite(update_interval_s) && update_interval_s > 0 ? update_interval_s : 0.0;
  last_j_.assign(counter_j, counter_j + rails);
  last_t_ns_.assign(rails, t_ns);
  power_w_.assign(rails, std::numeric_limits<double>::quiet_NaN());
  change_known_.assign(rails, 0);
  resets_.resize(rails, 0);
}

void CounterPower::update(const double* counter_j, int64_t t_ns, double* power_w) {
  for (std::size_t r = 0; r < last_j_.size(); ++r) {
    if (counter_j[r] != last_j_[r] && t_ns > last_t_ns_[r]) {
      const double dt_s = (t_ns - last_t_ns_[r]) * 1e-9;
      const CounterStep step = classify_counter_step(last_j_[r], counter_j[r], dt_s + update_s_, range_j_,
                                                     change_known_[r] ? max_power_w_ : 0.0);
      if (step == CounterStep::Reset) {
        ++resets_[r];
        power_w_[r] = std::numeric_limits<double>::quiet_NaN();
        change_known_[r] = 0;
      } else {
        power_w_[r] = counter_delta(last_j_[r], counter_j[r], range_j_) / dt_s;
        change_known_[r] = 1;
      }
      last_j_[r] = counter_j[r];
      last_t_ns_[r] = t_ns;
    }
    power_w[r] = power_w_[r];
  }
}

}  // namespace edgepower
