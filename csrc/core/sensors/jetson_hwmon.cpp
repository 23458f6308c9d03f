#include "jetson_hwmon.hpp"

#include <algorithm>
#include <sstream>

namespace edgepower {

namespace {
constexpr int kMaxChannel = 16;

bool skipped_label(const std::string& label) {
  std::string lower = label;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  // "NC": channel not connected on this board; "sum": the summation channel (in7/curr4).
  return label.find("NC") != std::string::npos || lower.find("sum") != std::string::npos;
}

std::string device_name(const std::string& hwmon_dir) {
  // .../ina3221/<bus-addr>/hwmon/hwmonN -> "<bus-addr>"
  const std::size_t h = hwmon_dir.rfind("/hwmon/");
  if (h == std::string::npos) return hwmon_dir;
  const std::size_t s = hwmon_dir.rfind('/', h - 1);
  return hwmon_dir.substr(s + 1, h - s - 1);
}

// Total rail: VDD_IN, else POM_5V_IN, else -1 (sum of rails).
int pick_total(const std::vector<std::string>& rails) {
  for (const char* name : {"VDD_IN", "POM_5V_IN"}) {
    auto it = std::find(rails.begin(), rails.end(), name);
    if (it != rails.end()) return static_cast<int>(it - rails.begin());
  }
  return -1;
}
}  // namespace

JetsonHwmonSensor::JetsonHwmonSensor(const std::string& root) {
  info_.kind = "jetson-hwmon";
  info_.has_power = true;
  info_.has_counter = false;
  const std::string pattern = sysfs::join(root, "sys/bus/i2c/drivers/ina3221/*/hwmon/hwmon*");
  info_.details["pattern"] = pattern;
  const std::vector<std::string> dirs = sysfs::glob(pattern);
  std::vector<std::string> problems, devices, skipped;
  double interval_ms = 0;
  for (const std::string& dir : dirs) {
    const std::string dev = device_name(dir);
    devices.push_back(dev);
    info_.details["device." + dev] = dir;
    std::string text;
    if (sysfs::read_text(dir + "/update_interval", &text)) {
      info_.details["update_interval_ms." + dev] = text;
      try {
        interval_ms = std::max(interval_ms, std::stod(text));
      } catch (const std::exception&) {
        problems.push_back(dir + "/update_interval holds '" + text + "', not a number (ignored)");
      }
    }
    if (sysfs::read_text(dir + "/samples", &text)) info_.details["samples." + dev] = text;
    for (int i = 1; i <= kMaxChannel; ++i) {
      const std::string base = dir + "/in" + std::to_string(i);
      std::string label;
      if (!sysfs::read_text(base + "_label", &label)) continue;  // channel without a label: shunt/sum
      if (label.empty() || skipped_label(label)) {
        skipped.push_back(dev + "/in" + std::to_string(i) + " '" + label + "'");
        continue;
      }
      Rail rail;
      int err = 0;
      const std::string v_path = base + "_input", i_path = dir + "/curr" + std::to_string(i) + "_input";
      if (!rail.voltage_mv.open(v_path, &err) || !rail.current_ma.open(i_path, &err)) {
        problems.push_back("rail " + label + ": cannot open " +
                           (rail.voltage_mv.is_open() ? i_path : v_path) + " (" + sysfs::errno_text(err) + ")");
        continue;
      }
      info_.rails.push_back(label);
      rails_.push_back(std::move(rail));
    }
  }
  if (!skipped.empty()) {
    std::string s;
    for (const auto& x : skipped) s += (s.empty() ? "" : ", ") + x;
    info_.details["skipped"] = s;
  }
  info_.total_rail = pick_total(info_.rails);
  info_.details["total"] = info_.total_rail >= 0 ? info_.rails[info_.total_rail] : "sum of rails";
  if (interval_ms > 0) info_.update_interval_s = interval_ms / 1000.0;
  std::string devs;
  for (const auto& d : devices) devs += (devs.empty() ? "" : ", ") + d;
  info_.description = "INA3221 via hwmon (" + (devs.empty() ? std::string("no device") : devs) + "); P = V*I";
  info_.details["driver"] = "ina3221 (hwmon)";

  if (dirs.empty()) {
    info_.available = false;
    info_.reason = "no INA3221 hwmon device under " + pattern +
                   " (this is not a Jetson with JetPack 5 or newer; on JetPack 4 try 'jetson-iio')";
  } else if (rails_.empty() && problems.empty()) {
    info_.available = false;
    info_.reason = "INA3221 hwmon found at " + dirs.front() + " but no labelled rail (in<i>_label) other than NC/sum";
  } else if (!problems.empty()) {
    set_unavailable(problems, "Check that the files exist and are readable (run as a user that can read sysfs)");
  } else {
    probe_read("The INA3221 hwmon files must hold integers (mV, mA)");
  }
}

void JetsonHwmonSensor::read(double* power_w, double*) {
  if (!info_.available) require_available();
  for (std::size_t r = 0; r < rails_.size(); ++r) {
    const int64_t mv = rails_[r].voltage_mv.read_int();
    const int64_t ma = rails_[r].current_ma.read_int();
    power_w[r] = static_cast<double>(mv) * static_cast<double>(ma) * 1e-6;
  }
}

}  // namespace edgepower
