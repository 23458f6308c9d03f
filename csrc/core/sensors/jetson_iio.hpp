#pragma once
// Jetson INA3221 through NVIDIA's legacy IIO driver (JetPack 4 / L4T 32, Nano, TX1/TX2):
//   <root>/sys/bus/i2c/drivers/ina3221x/*/iio:device*/rail_name_<i>, in_power<i>_input (mW),
//   in_voltage<i>_input (mV), in_current<i>_input (mA).
// Power comes from in_power<i>_input (the driver computes mV*mA/1000); where that file is missing
// P = V * I. POM_5V_IN is the board total; rails named "NC" are skipped.
#include <string>
#include <vector>

#include "../sensor.hpp"
#include "sysfs.hpp"

namespace edgepower {

class JetsonIioSensor : public Sensor {
 public:
  /// Discovers every ina3221x IIO device under root. Never throws (null object on failure).
  explicit JetsonIioSensor(const std::string& root = "/");
  /// One pread per rail (mW), or two (mV, mA) where no power file exists. Throws SensorError
  /// naming the file and value. Not thread-safe.
  void read(double* power_w, double* counter_j) override;

 private:
  struct Rail {
    sysfs::File power_mw, voltage_mv, current_ma;
  };
  std::vector<Rail> rails_;
};

}  // namespace edgepower
