#pragma once
// Generic hwmon power and energy: <root>/sys/class/hwmon/hwmon*/ with `name`,
// power<i>_input (uW; power<i>_average where the driver only averages) and energy<i>_input (uJ).
// In energy mode every rail is an energy counter (counter_j, joules, not wrapping) and power is
// derived from counter differences; in power mode rails are power files.
#include <string>
#include <vector>

#include "../sensor.hpp"
#include "counter_power.hpp"
#include "sysfs.hpp"

namespace edgepower {

struct HwmonOptions {
  std::string name;            ///< only devices whose `name` file equals this ("" = all but ina3221)
  std::string mode = "auto";   ///< "energy", "power", or "auto" (energy if any energy file exists)
};

class HwmonSensor : public Sensor {
 public:
  /// Discovers hwmon devices under root. Never throws, except std::invalid_argument for a mode
  /// other than auto/energy/power.
  explicit HwmonSensor(const std::string& root = "/", const HwmonOptions& options = {});
  /// One pread per rail. Energy mode fills counter_j (J) and power_w derived from the counters.
  /// Throws SensorError naming the file and value. Not thread-safe.
  void read(double* power_w, double* counter_j) override;

 private:
  std::vector<sysfs::File> files_;
  bool energy_ = false;
  CounterPower derived_;
};

}  // namespace edgepower
