#pragma once
// The one interface every power source implements (synthetic, sysfs, NVML, replay, estimate).
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace edgepower {

/// A read failed (I/O error, garbage value). The sampler counts it and goes on. Also the base
/// of the sampler's own stop causes (SamplerLimitError) and of SensorExhausted.
class SensorError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The sensor has no more data (a replay reached the end of its trace). Not a failure: the
/// sampler ends cleanly on it, counts no read error, and stop() does not raise.
class SensorExhausted : public SensorError {
 public:
  using SensorError::SensorError;
};

/// The sensor cannot be used at all on this machine; the message says why and how to fix it.
class SensorUnavailable : public SensorError {
 public:
  using SensorError::SensorError;
};

/// What a sensor measures and how; every Measurement carries a copy as provenance.
struct SensorInfo {
  std::string kind;                 ///< e.g. "constant", "jetson-hwmon", "nvml"
  std::string description;          ///< human-readable, e.g. "INA3221 hwmon3 at 1-0040"
  std::vector<std::string> rails;   ///< one name per power/counter column
  int total_rail = -1;              ///< rail that is the board total; -1: total = sum of rails
  bool has_power = true;            ///< read() fills power_w (watts)
  bool has_counter = false;         ///< read() fills counter_j (joules, raw, may wrap)
  bool power_derived = false;       ///< power_w is computed from counter differences: the counter is the measurement
  double counter_range_j = 0.0;     ///< counters wrap at this value (joules); 0 = never
  /// Physical bound on one rail's power (W) for this kind of sensor, 0 = none known. A counter
  /// step implying more is a reset, not energy (classify_counter_step in energy.hpp).
  double max_power_w = 0.0;
  double update_interval_s = std::numeric_limits<double>::quiet_NaN();  ///< own refresh, if known
  bool estimated = false;           ///< true: a model, not a measurement
  bool available = true;            ///< false: using it raises SensorUnavailable(reason)
  std::string reason;               ///< why unavailable and how to fix it
  std::map<std::string, std::string> details;  ///< extra provenance (paths, driver, settings)
};

/// Base of all sensors. read() is called by one thread at a time (the sampler's).
class Sensor {
 public:
  virtual ~Sensor() = default;
  Sensor(const Sensor&) = delete;
  Sensor& operator=(const Sensor&) = delete;

  /// Description and provenance; immutable after construction; thread-safe.
  const SensorInfo& info() const noexcept { return info_; }
  std::size_t num_rails() const noexcept { return info_.rails.size(); }

  /// Reads once. power_w and counter_j each point to num_rails() doubles; a column the sensor
  /// does not provide is left NaN (counter_j is never null). Throws SensorError on failure.
  virtual void read(double* power_w, double* counter_j) = 0;

  /// Throws SensorUnavailable(info().reason) when the sensor is not available.
  void require_available() const;

 protected:
  Sensor() = default;
  explicit Sensor(SensorInfo info) : info_(std::move(info)) {}

  /// Discovery found problems: marks the sensor unavailable with them (distinct ones, joined by
  /// "; ") followed by `fix`.
  void set_unavailable(const std::vector<std::string>& problems, const std::string& fix);
  /// One read at discovery, so garbage or empty files make the sensor unavailable now, with the
  /// file and value named, instead of failing later in the sampler thread. Also primes sensors
  /// that derive power from counter differences. `fix` is appended to the error.
  void probe_read(const std::string& fix);

  SensorInfo info_;
};

using SensorPtr = std::shared_ptr<Sensor>;

}  // namespace edgepower
