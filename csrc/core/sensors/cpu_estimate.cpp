#include "cpu_estimate.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace edgepower {

namespace {
std::string watts(double w) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g W", w);
  return buf;
}
}  // namespace

CpuEstimateSensor::CpuEstimateSensor(const std::string& root, const CpuEstimateOptions& options)
    : figures_(cpu_power_figures(root, CpuPowerOverrides{options.idle_w, options.max_w, options.cpus})) {
  info_.kind = "cpu-estimate";
  info_.rails = {"cpu"};
  info_.total_rail = 0;
  info_.has_power = true;
  info_.has_counter = false;
  info_.estimated = true;
  const long hz = sysconf(_SC_CLK_TCK);
  if (hz > 0) info_.update_interval_s = 1.0 / static_cast<double>(hz);
  const std::string path = sysfs::join(root, "proc/stat");
  const double idle = figures_.idle_share_w(), span = figures_.per_cpu_w() * figures_.online_cpus;
  info_.details["file"] = path;
  info_.details["idle_w"] = watts(idle);
  info_.details["max_w"] = watts(idle + span);
  info_.details["figures"] = figures_.source;
  info_.details["model"] = "power = idle_w + (max_w - idle_w) * utilisation (system-wide: every process counts)";
  info_.description = "ESTIMATE, not a measurement: " + watts(idle) + " + " + watts(span) +
                      " x CPU utilisation of the whole system from " + path + " (" + figures_.source +
                      "; set cpu-estimate:idle=<W>,max=<W> from your CPU, e.g. max = TDP)";
  int err = 0;
  if (!stat_.open(path, &err)) {
    info_.available = false;
    info_.reason = "cannot open " + path + " (" + sysfs::errno_text(err) + "); the CPU estimate needs procfs mounted at /proc";
    return;
  }
  try {
    double p = 0, c = 0;
    read(&p, &c);  // primes the jiffy counters
  } catch (const SensorError& e) {
    info_.available = false;
    info_.reason = std::string(e.what()) + ". The first line of /proc/stat must be 'cpu <user> <nice> <system> <idle> ...'";
  }
}

bool CpuEstimateSensor::read_jiffies(uint64_t* busy, uint64_t* total) {
  const std::string text = stat_.read_text();
  const std::string line = text.substr(0, text.find('\n'));
  std::istringstream in(line);
  std::string tag;
  in >> tag;
  if (tag != "cpu") throw SensorError(stat_.path() + " starts with '" + line.substr(0, 40) + "', not the aggregate 'cpu' line");
  uint64_t v[8] = {0};
  int n = 0;
  for (; n < 8 && (in >> v[n]); ++n) {
  }
  if (n < 4) throw SensorError(stat_.path() + ": the 'cpu' line '" + line.substr(0, 60) + "' has fewer than 4 numbers");
  // user nice system idle iowait irq softirq steal; guest time is already inside user.
  const uint64_t idle = v[3] + v[4];
  const uint64_t b = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  *busy = b;
  *total = b + idle;
  return true;
}

void CpuEstimateSensor::read(double* power_w, double*) {
  if (!info_.available) require_available();
  uint64_t busy = 0, total = 0;
  read_jiffies(&busy, &total);
  if (!primed_) {
    util_ = total > 0 ? static_cast<double>(busy) / static_cast<double>(total) : 0.0;
    primed_ = true;
  } else if (total > last_total_ && busy >= last_busy_) {
    util_ = static_cast<double>(busy - last_busy_) / static_cast<double>(total - last_total_);
  }
  last_busy_ = busy;
  last_total_ = total;
  util_ = std::min(1.0, std::max(0.0, util_));
  power_w[0] = figures_.idle_share_w() + figures_.per_cpu_w() * figures_.online_cpus * util_;
}

}  // namespace edgepower
