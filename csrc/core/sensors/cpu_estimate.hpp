#pragma once
// A labelled, system-wide estimate (kind "cpu-estimate", a named option; sensor="auto" picks the
// per-process cpu-process instead, which other processes cannot spoil): power = idle_share_w +
// per_cpu_w x online CPUs x utilisation, the utilisation of ALL processes taken from
// <root>/proc/stat (aggregate "cpu" line) between consecutive reads. The figures come from
// cpu_power.hpp (for an unknown CPU: idle_w + (max_w - idle_w) x utilisation). info().estimated is
// true: every figure from it is a model, not a measurement.
#include <cstdint>
#include <limits>
#include <string>

#include "../sensor.hpp"
#include "cpu_power.hpp"
#include "sysfs.hpp"

namespace edgepower {

struct CpuEstimateOptions {
  /// W; NaN: from the CPU table (cpu_power.hpp), else kDefaultCpuIdleW. Set both from your CPU's
  /// data sheet (max_w ~ TDP) or from a measurement for anything better than a rough guess.
  double idle_w = std::numeric_limits<double>::quiet_NaN();
  double max_w = std::numeric_limits<double>::quiet_NaN();  ///< W; NaN: table, else kDefaultCpuMaxW
  int cpus = 0;  ///< logical CPUs idle_w/max_w are for; 0: the table's, else this system's
};

class CpuEstimateSensor : public Sensor {
 public:
  /// Opens <root>/proc/stat. Never throws, except std::invalid_argument for idle_w < 0 or
  /// max_w < idle_w (or non-finite values, or cpus < 0).
  explicit CpuEstimateSensor(const std::string& root = "/", const CpuEstimateOptions& options = {});
  /// One pread of /proc/stat. The utilisation is the busy share of the jiffies elapsed since the
  /// previous read; when none elapsed (reads faster than the kernel tick) the previous value is
  /// held; the first value is the average since boot. Not thread-safe.
  void read(double* power_w, double* counter_j) override;
  /// Utilisation (0..1) of the last read.
  double utilisation() const noexcept { return util_; }
  const CpuPowerFigures& figures() const noexcept { return figures_; }

 private:
  bool read_jiffies(uint64_t* busy, uint64_t* total);
  CpuPowerFigures figures_;
  sysfs::File stat_;
  uint64_t last_busy_ = 0, last_total_ = 0;
  bool primed_ = false;
  double util_ = 0;
};

}  // namespace edgepower
