#include "rapl.hpp"

#include <cerrno>
#include <cmath>
#include <limits>

#include "../clock.hpp"
#include "../energy.hpp"

namespace edgepower {

std::string rapl_permission_help(const std::string& path) {
  return "permission denied reading " + path +
         ". Since November 2020 (kernel commit 949dd0104c49 'powercap: restrict energy meter to root "
         "access', the fix for the PLATYPUS attack, CVE-2020-8694) energy_uj is readable by root only. "
         "Grant read access, e.g. until the next reboot: "
         "`sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj`; "
         "permanently with a udev rule in /etc/udev/rules.d/99-edgepower-rapl.rules: "
         "`ACTION==\"add\", SUBSYSTEM==\"powercap\", KERNEL==\"intel-rapl:*\", RUN+=\"/bin/chmod o+r /sys%p/energy_uj\"` "
         "(or chgrp the files to a group of trusted users and chmod g+r); or run as root. "
         "In a container, /sys/devices/virtual/powercap must also be visible";
}

namespace {
struct Zone {
  std::string dir, rail, name;
  bool top = false;
};
}  // namespace

RaplSensor::RaplSensor(const std::string& root) {
  info_.kind = "rapl";
  info_.has_power = true;
  info_.has_counter = true;
  info_.update_interval_s = 1e-3;  // RAPL MSRs update about every millisecond (Intel SDM)
  info_.details["update_interval"] = "about 1 ms (RAPL MSR update period, not read from hardware)";
  info_.details["power"] = "derived: counter difference / time between counter changes";
  info_.power_derived = true;
  // One zone is a CPU package (or its cores, uncore, DRAM) or the platform (psys): the largest
  // x86 packages draw about 500 W, client platforms well under 300 W. Three times that: a
  // counter step beyond it is a reset (firmware, suspend, driver reload), not energy.
  info_.max_power_w = 1500.0;
  info_.details["max_power"] = "1500 W per zone (a larger counter step is a reset)";
  const std::string pattern = sysfs::join(root, "sys/class/powercap/intel-rapl:*");
  info_.details["pattern"] = pattern;
  std::vector<Zone> zones;
  std::vector<std::string> problems;
  std::string top_name;
  for (const std::string& dir : sysfs::glob(pattern)) {
    Zone z;
    z.dir = dir;
    const std::string base = dir.substr(dir.rfind('/') + 1);  // intel-rapl:0 or intel-rapl:0:1
    z.top = base.find(':') == base.rfind(':');
    if (!sysfs::read_text(dir + "/name", &z.name) || z.name.empty()) z.name = base;
    if (z.top) top_name = z.name;
    z.rail = z.top ? z.name : top_name + "/" + z.name;
    zones.push_back(z);
  }
  int packages = 0;
  bool psys = false;
  for (const Zone& z : zones) {
    if (z.top && z.name.rfind("package", 0) == 0) ++packages;
    if (z.top && z.name == "psys") psys = true;
  }
  const bool drop_sub = packages > 1 && !psys;
  if (drop_sub) info_.details["subzones"] = "left out: with several packages and no psys the total is the sum of the packages";
  for (const Zone& z : zones) {
    if (drop_sub && !z.top) continue;
    std::string text;
    int err = 0;
    double range_j = 0;
    if (!sysfs::read_text(z.dir + "/max_energy_range_uj", &text, &err)) {
      problems.push_back("cannot read " + z.dir + "/max_energy_range_uj (" + sysfs::errno_text(err) + ")");
      continue;
    }
    try {
      std::size_t used = 0;
      range_j = static_cast<double>(std::stoll(text, &used)) * 1e-6;
      if (used != text.size() || !(range_j > 0)) throw std::invalid_argument("bad");
    } catch (const std::exception&) {
      problems.push_back(z.dir + "/max_energy_range_uj holds '" + text + "', not a positive integer (uJ)");
      continue;
    }
    sysfs::File f;
    if (!f.open(z.dir + "/energy_uj", &err)) {
      problems.push_back(err == EACCES || err == EPERM ? rapl_permission_help(z.dir + "/energy_uj")
                                                       : "cannot open " + z.dir + "/energy_uj (" + sysfs::errno_text(err) + ")");
      continue;
    }
    info_.rails.push_back(z.rail);
    info_.details["file." + z.rail] = z.dir + "/energy_uj";
    range_j_.push_back(range_j);
    files_.push_back(std::move(f));
  }
  for (std::size_t r = 0; r < info_.rails.size(); ++r) {
    if (info_.rails[r] == "psys" || (!psys && packages == 1 && info_.rails[r].rfind("package", 0) == 0 &&
                                     info_.rails[r].find('/') == std::string::npos)) {
      info_.total_rail = static_cast<int>(r);
      break;
    }
  }
  info_.details["total"] = info_.total_rail >= 0 ? info_.rails[info_.total_rail] : "sum of rails";
  for (double r : range_j_) self_unwrap_ |= r != range_j_.front();
  info_.counter_range_j = self_unwrap_ || range_j_.empty() ? 0.0 : range_j_.front();
  info_.details["counter"] = self_unwrap_ ? "unwrapped by the sensor (zones wrap at different ranges)"
                                          : "raw energy_uj in J; wraps at max_energy_range_uj";
  info_.description = "RAPL energy counters via powercap (" + std::to_string(info_.rails.size()) + " zones)";
  if (zones.empty()) {
    info_.available = false;
    info_.reason = "no RAPL zone under " + pattern +
                   " (not an Intel/AMD x86 CPU with the intel_rapl/rapl driver loaded: try `sudo modprobe "
                   "intel_rapl_msr`; in a container, /sys/class/powercap is often hidden)";
  } else if (!problems.empty()) {
    set_unavailable(problems, "");
  } else {
    probe_read("energy_uj must hold an integer (uJ)");
  }
}

void RaplSensor::read(double* power_w, double* counter_j) {
  if (!info_.available) require_available();
  const std::size_t n = files_.size();
  const int64_t t = now_ns();
  for (std::size_t r = 0; r < n; ++r) {
    const int64_t uj = files_[r].read_int();
    if (uj < 0) throw SensorError(files_[r].path() + " holds " + std::to_string(uj) + ", a negative energy");
    if (!self_unwrap_) {
      counter_j[r] = static_cast<double>(uj) * 1e-6;
      continue;
    }
    if (last_uj_.size() < n) {
      last_uj_.push_back(uj);
      unwrapped_j_.push_back(static_cast<double>(uj) * 1e-6);
      last_change_ns_.push_back(t);
      change_known_.push_back(0);
    } else if (uj != last_uj_[r]) {
      // A drop is a wrap only if the zone's range explains it within the power bound; a
      // reset restarts the unwrapped counter at the raw value, which is below the last
      // unwrapped one, so the counter drops and downstream sees the reset too.
      const double dt_s = (t - last_change_ns_[r]) * 1e-9 + info_.update_interval_s;
      const CounterStep step = classify_counter_step(static_cast<double>(last_uj_[r]) * 1e-6,
                                                     static_cast<double>(uj) * 1e-6, dt_s, range_j_[r],
                                                     change_known_[r] ? info_.max_power_w : 0.0);
      if (step == CounterStep::Reset) {
        unwrapped_j_[r] = static_cast<double>(uj) * 1e-6;
        change_known_[r] = 0;
      } else {
        int64_t d = uj - last_uj_[r];
        if (d < 0) d += static_cast<int64_t>(std::llround(range_j_[r] * 1e6));
        unwrapped_j_[r] += static_cast<double>(d) * 1e-6;
        change_known_[r] = 1;
      }
      last_uj_[r] = uj;
      last_change_ns_[r] = t;
    }
    counter_j[r] = unwrapped_j_[r];
  }
  if (!derived_.primed()) {
    derived_.prime(counter_j, n, info_.counter_range_j, t, info_.max_power_w, info_.update_interval_s);
    for (std::size_t r = 0; r < n; ++r) power_w[r] = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  derived_.update(counter_j, t, power_w);
}

}  // namespace edgepower
