#include "jetson_iio.hpp"

#include <algorithm>

namespace edgepower {

namespace {
constexpr int kMaxChannel = 8;

std::string device_name(const std::string& iio_dir) {
  // .../ina3221x/<bus-addr>/iio:deviceN -> "<bus-addr>/iio:deviceN"
  const std::size_t s = iio_dir.rfind('/');
  const std::size_t p = s == std::string::npos || s == 0 ? std::string::npos : iio_dir.rfind('/', s - 1);
  return p == std::string::npos ? iio_dir : iio_dir.substr(p + 1);
}
}  // namespace

JetsonIioSensor::JetsonIioSensor(const std::string& root) {
  info_.kind = "jetson-iio";
  info_.has_power = true;
  info_.has_counter = false;
  info_.details["driver"] = "ina3221x (legacy IIO, L4T 32)";
  const std::string pattern = sysfs::join(root, "sys/bus/i2c/drivers/ina3221x/*/iio:device*");
  info_.details["pattern"] = pattern;
  const std::vector<std::string> dirs = sysfs::glob(pattern);
  std::vector<std::string> problems, devices;
  for (const std::string& dir : dirs) {
    const std::string dev = device_name(dir);
    devices.push_back(dev);
    info_.details["device." + dev] = dir;
    for (int i = 0; i < kMaxChannel; ++i) {
      const std::string idx = std::to_string(i);
      std::string name;
      if (!sysfs::read_text(dir + "/rail_name_" + idx, &name)) continue;
      if (name.empty() || name.find("NC") != std::string::npos) continue;
      Rail rail;
      int err = 0;
      const std::string p_path = dir + "/in_power" + idx + "_input";
      if (!rail.power_mw.open(p_path, &err)) {
        const std::string v_path = dir + "/in_voltage" + idx + "_input", c_path = dir + "/in_current" + idx + "_input";
        int err_v = 0, err_c = 0;
        if (!rail.voltage_mv.open(v_path, &err_v) || !rail.current_ma.open(c_path, &err_c)) {
          problems.push_back("rail " + name + ": cannot open " + p_path + " (" + sysfs::errno_text(err) +
                             ") nor " + (rail.voltage_mv.is_open() ? c_path : v_path) + " (" +
                             sysfs::errno_text(err_v ? err_v : err_c) + ")");
          continue;
        }
        info_.details["power." + name] = "V*I from " + v_path + " and " + c_path;
      }
      info_.rails.push_back(name);
      rails_.push_back(std::move(rail));
    }
  }
  auto it = std::find(info_.rails.begin(), info_.rails.end(), "POM_5V_IN");
  info_.total_rail = it == info_.rails.end() ? -1 : static_cast<int>(it - info_.rails.begin());
  info_.details["total"] = info_.total_rail >= 0 ? "POM_5V_IN" : "sum of rails";
  std::string devs;
  for (const auto& d : devices) devs += (devs.empty() ? "" : ", ") + d;
  info_.description = "INA3221 via legacy IIO (" + (devs.empty() ? std::string("no device") : devs) + ")";
  if (dirs.empty()) {
    info_.available = false;
    info_.reason = "no ina3221x IIO device under " + pattern +
                   " (this is not a Jetson with JetPack 4; on JetPack 5 or newer use 'jetson-hwmon')";
  } else if (problems.empty() && rails_.empty()) {
    info_.available = false;
    info_.reason = "ina3221x IIO device at " + dirs.front() + " has no rail_name_<i> file other than NC";
  } else if (!problems.empty()) {
    set_unavailable(problems, "Check that the files exist and are readable");
  } else {
    probe_read("The ina3221x IIO files must hold integers (mW, mV, mA)");
  }
}

void JetsonIioSensor::read(double* power_w, double*) {
  if (!info_.available) require_available();
  for (std::size_t r = 0; r < rails_.size(); ++r) {
    Rail& rail = rails_[r];
    if (rail.power_mw.is_open()) {
      power_w[r] = static_cast<double>(rail.power_mw.read_int()) * 1e-3;
    } else {
      const int64_t mv = rail.voltage_mv.read_int();
      const int64_t ma = rail.current_ma.read_int();
      power_w[r] = static_cast<double>(mv) * static_cast<double>(ma) * 1e-6;
    }
  }
}

}  // namespace edgepower
