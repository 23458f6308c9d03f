#pragma once
// A labelled estimate for machines without a power sensor: power = idle_w + (max_w - idle_w) x
// CPU utilisation, the utilisation taken from <root>/proc/stat (aggregate "cpu" line) between
// consecutive reads. info().estimated is true: every figure from it is a model, not a measurement.
#include <cstdint>
#include <string>

#include "../sensor.hpp"
#include "sysfs.hpp"

namespace edgepower {

struct CpuEstimateOptions {
  /// Default figures are typical of a desktop x86 CPU (65 W TDP class); set both from your CPU's
  /// data sheet (max_w ~ TDP) or from a measurement for anything better than a rough guess.
  double idle_w = 10.0;
  double max_w = 65.0;
};

class CpuEstimateSensor : public Sensor {
 public:
  /// Opens <root>/proc/stat. Never throws, except std::invalid_argument for idle_w < 0 or
  /// max_w < idle_w (or non-finite values).
  explicit CpuEstimateSensor(const std::string& root = "/", const CpuEstimateOptions& options = {});
  /// One pread of /proc/stat. The utilisation is the busy share of the jiffies elapsed since the
  /// previous read; when none elapsed (reads faster than the kernel tick) the previous value is
  /// held; the first value is the average since boot. Not thread-safe.
  void read(double* power_w, double* counter_j) override;
  /// Utilisation (0..1) of the last read.
  double utilisation() const noexcept { return util_; }

 private:
  bool read_jiffies(uint64_t* busy, uint64_t* total);
  CpuEstimateOptions options_;
  sysfs::File stat_;
  uint64_t last_busy_ = 0, last_total_ = 0;
  bool primed_ = false;
  double util_ = 0;
};

}  // namespace edgepower
