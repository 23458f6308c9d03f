#include "hwmon.hpp"

#include <limits>
#include <stdexcept>

#include "../clock.hpp"

namespace edgepower {

namespace {
constexpr int kMaxChannel = 32;

struct Candidate {
  std::string rail, path;
  bool averaged = false;
};
}  // namespace

HwmonSensor::HwmonSensor(const std::string& root, const HwmonOptions& options) {
  if (options.mode != "auto" && options.mode != "energy" && options.mode != "power") {
    throw std::invalid_argument("hwmon mode must be auto, energy or power, got '" + options.mode + "'");
  }
  info_.kind = "hwmon";
  const std::string pattern = sysfs::join(root, "sys/class/hwmon/hwmon*");
  info_.details["pattern"] = pattern;
  info_.details["mode"] = options.mode;
  std::vector<Candidate> energy, power;
  std::vector<std::string> names;
  for (const std::string& dir : sysfs::glob(pattern)) {
    std::string name;
    sysfs::read_text(dir + "/name", &name);
    if (name.empty()) name = dir.substr(dir.rfind('/') + 1);
    if (options.name.empty() ? name == "ina3221" : name != options.name) continue;  // ina3221: jetson-hwmon
    const std::string hw = dir.substr(dir.rfind('/') + 1);
    bool used = false;
    for (int i = 1; i <= kMaxChannel; ++i) {
      const std::string idx = std::to_string(i);
      std::string label;
      if (sysfs::exists(dir + "/energy" + idx + "_input")) {
        if (!sysfs::read_text(dir + "/energy" + idx + "_label", &label) || label.empty()) label = "energy" + idx;
        energy.push_back({name + "/" + label, dir + "/energy" + idx + "_input"});
        used = true;
      }
      const std::string base = dir + "/power" + idx;
      const bool input = sysfs::exists(base + "_input"), average = sysfs::exists(base + "_average");
      if (input || average) {
        if (!sysfs::read_text(base + "_label", &label) || label.empty()) label = "power" + idx;
        power.push_back({name + "/" + label, base + (input ? "_input" : "_average"), !input});
        used = true;
      }
    }
    if (used) names.push_back(name + " (" + hw + ")");
  }
  energy_ = options.mode == "energy" || (options.mode == "auto" && !energy.empty());
  const std::vector<Candidate>& chosen = energy_ ? energy : power;
  info_.has_power = true;  // energy mode: derived from the counters
  info_.has_counter = energy_;
  info_.counter_range_j = 0.0;  // hwmon energy counters are 64-bit microjoules: no wrap in practice
  if (energy_) {
    // amd_energy counts per core and per socket (at most ~500 W); other hwmon energy meters can
    // be a whole server's supply. A counter step implying more than 10 kW is a reset.
    info_.max_power_w = 10000.0;
    info_.details["max_power"] = "10 kW per rail (a larger counter step is a reset)";
  }
  std::vector<std::string> problems;
  for (const Candidate& c : chosen) {
    sysfs::File f;
    int err = 0;
    if (!f.open(c.path, &err)) {
      problems.push_back("cannot open " + c.path + " (" + sysfs::errno_text(err) + ")");
      continue;
    }
    info_.rails.push_back(c.rail);
    info_.details["file." + c.rail] = c.path;
    if (c.averaged) info_.details["averaged." + c.rail] = "driver reports only power_average (a driver-side average)";
    files_.push_back(std::move(f));
  }
  info_.total_rail = -1;
  std::string devs;
  for (const auto& n : names) devs += (devs.empty() ? "" : ", ") + n;
  info_.description = std::string(energy_ ? "hwmon energy counters (uJ)" : "hwmon power (uW)") + " of " +
                      (devs.empty() ? std::string("no device") : devs) + (energy_ ? "; power derived from the counters" : "");
  if (energy_) { info_.power_derived = true; info_.details["power"] = "derived: counter difference / time between counter changes"; }
  const std::string what = options.mode == "energy" ? "energy<i>_input" : options.mode == "power" ? "power<i>_input" : "power<i>_input or energy<i>_input";
  if (chosen.empty()) {
    info_.available = false;
    info_.reason = "no hwmon device under " + pattern + (options.name.empty() ? "" : " named '" + options.name + "'") +
                   " has " + what + " files (load the driver that exposes them, e.g. amd_energy, or use another sensor)";
  } else if (!problems.empty()) {
    set_unavailable(problems, "Grant read access to these files (e.g. chmod o+r or a udev rule)");
  } else {
    probe_read("hwmon power/energy files must hold integers (uW, uJ)");
  }
}

void HwmonSensor::read(double* power_w, double* counter_j) {
  if (!info_.available) require_available();
  if (!energy_) {
    for (std::size_t r = 0; r < files_.size(); ++r) power_w[r] = static_cast<double>(files_[r].read_int()) * 1e-6;
    return;
  }
  for (std::size_t r = 0; r < files_.size(); ++r) counter_j[r] = static_cast<double>(files_[r].read_int()) * 1e-6;
  const int64_t t = now_ns();
  if (!derived_.primed()) {
    derived_.prime(counter_j, files_.size(), 0.0, t, info_.max_power_w, info_.update_interval_s);
    for (std::size_t r = 0; r < files_.size(); ++r) power_w[r] = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  derived_.update(counter_j, t, power_w);
}

}  // namespace edgepower
