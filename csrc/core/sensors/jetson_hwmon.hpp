#pragma once
// Jetson INA3221 through the mainline hwmon driver (JetPack 5+, Orin/Xavier):
//   <root>/sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*/in<i>_label, in<i>_input (mV),
//   curr<i>_input (mA), update_interval (ms), samples.
// There is no power file: P = V * I per rail. Channels labelled "NC" (not connected) and the
// sum channel (in7, "sum of shunt voltages") are skipped. The total rail is VDD_IN, else
// POM_5V_IN, else the sum of the rails.
#include <string>
#include <vector>

#include "../sensor.hpp"
#include "sysfs.hpp"

namespace edgepower {

class JetsonHwmonSensor : public Sensor {
 public:
  /// Discovers every INA3221 hwmon device under root. Never throws: when nothing usable is found
  /// the sensor is unavailable and info().reason says why and what to check.
  explicit JetsonHwmonSensor(const std::string& root = "/");
  /// Two preads per rail (mV, mA); power_w[r] = mV * mA / 1e6. Throws SensorError naming the
  /// file and its content on a bad value; SensorUnavailable if unavailable. Not thread-safe.
  void read(double* power_w, double* counter_j) override;

 private:
  struct Rail {
    sysfs::File voltage_mv, current_ma;
  };
  std::vector<Rail> rails_;
};

}  // namespace edgepower
