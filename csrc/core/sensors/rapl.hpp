#pragma once
// Intel/AMD RAPL through powercap: <root>/sys/class/powercap/intel-rapl:N[:M]/ with energy_uj
// (uJ, updated about every 1 ms), max_energy_range_uj (the wrap point) and name (package-N,
// core, uncore, dram, psys). energy_uj is readable by root only since the 2020 PLATYPUS fix.
//
// Rails: every zone, named "package-0", "package-0/core", ... The total rail is psys where it
// exists, else the package when there is one; with several packages and no psys, sub-zones are
// left out so that the sum of the rails (the packages) is the total.
// counter_j: raw joules wrapping at counter_range_j when every zone wraps at the same range;
// otherwise the sensor unwraps each zone itself and counter_range_j is 0 (details say which).
// A drop that a wrap does not explain (a reset: classify_counter_step) is never taken as a wrap;
// a self-unwrapped counter restarts at the raw value, so it drops and the reset shows downstream.
// power_w: derived from counter differences (see CounterPower).
#include <cstdint>
#include <string>
#include <vector>

#include "../sensor.hpp"
#include "counter_power.hpp"
#include "sysfs.hpp"

namespace edgepower {

/// The fix to give when energy_uj cannot be read (root-only since kernel commit 949dd0104c49).
std::string rapl_permission_help(const std::string& path);

class RaplSensor : public Sensor {
 public:
  /// Discovers powercap RAPL zones under root. Never throws (null object on failure).
  explicit RaplSensor(const std::string& root = "/");
  /// One pread per zone. Throws SensorError naming the file and value. Not thread-safe.
  void read(double* power_w, double* counter_j) override;

 private:
  std::vector<sysfs::File> files_;
  bool self_unwrap_ = false;
  std::vector<double> range_j_;      // per zone
  std::vector<int64_t> last_uj_;     // self-unwrap only
  std::vector<double> unwrapped_j_;  // self-unwrap only
  std::vector<int64_t> last_change_ns_;  // self-unwrap only: when energy_uj last changed
  std::vector<uint8_t> change_known_;    // self-unwrap only: a change was seen since the start
  CounterPower derived_;
};

}  // namespace edgepower
