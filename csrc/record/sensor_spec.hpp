#pragma once
// Sensor spec strings for the native recorder: the same grammar, kinds and options as the
// Python package (python/edgepower/sensors.py), for every kind that needs no Python:
//   kind[:arg,arg,key=value,...]   e.g. "jetson-iio", "hwmon:mode=energy", "constant:5,3",
//   "replay:trace.csv,speed=2", "nvml:0", "cpu-estimate:idle=5,max=45", "auto".
// Not here: "regions" (follows a Python-side timeline) and "cpu-process" (the CPU energy of the
// reading process: the recorder's own); "auto" ends with the system-wide cpu-estimate instead.
#include <map>
#include <string>
#include <vector>

#include "core/sensor.hpp"

namespace edgepower::record {

/// A spec split into its parts: "kind:a,b,key=value" -> {"kind", {"a", "b"}, {key: value}}.
struct SensorSpec {
  std::string kind;                            ///< lower case, trimmed
  std::vector<std::string> args;               ///< positional arguments, trimmed
  std::map<std::string, std::string> options;  ///< key=value options, trimmed
};

/// Splits a spec. Throws std::invalid_argument for an empty spec.
SensorSpec parse_sensor_spec(const std::string& spec);

/// Kinds this recorder can build, sorted ("auto" is not a kind).
std::vector<std::string> native_kinds();

/// Builds the sensor a spec names, reading sysfs under `root` (tests pass fixture trees).
/// "auto" picks the first available of nvml, rapl, hwmon, jetson-hwmon, jetson-iio,
/// cpu-estimate (the Python package's order, with cpu-estimate for Python's cpu-process). Throws std::invalid_argument for an unknown kind
/// or a bad option (saying what was expected), SensorUnavailable when the sensor cannot be used
/// here (with the reason and the fix). Not thread-safe (sensors are built once, at start).
SensorPtr create_sensor(const std::string& spec, const std::string& root = "/");

}  // namespace edgepower::record
