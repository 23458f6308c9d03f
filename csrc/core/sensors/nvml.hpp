#pragma once
// NVIDIA GPUs through NVML, loaded with dlopen at run time (libnvidia-ml.so.1, or the path in
// EDGEPOWER_NVML_LIBRARY / NvmlOptions::library). One rail per sensor: GPU <index>.
//   counter_j: nvmlDeviceGetTotalEnergyConsumption (mJ since driver load, Volta+; steps about
//              every 100 ms), where supported.
//   power_w:   field NVML_FI_DEV_POWER_INSTANT (186) via nvmlDeviceGetFieldValues; else derived
//              from the energy counter; else nvmlDeviceGetPowerUsage, flagged in details as a
//              1 s average on Ampere and newer (useless for layers).
#include <memory>
#include <string>

#include "../sensor.hpp"
#include "counter_power.hpp"
#include "dynlib.hpp"
#include "nvml_abi.hpp"

namespace edgepower {

struct NvmlOptions {
  unsigned index = 0;   ///< GPU index as NVML numbers them
  std::string library;  ///< "" = $EDGEPOWER_NVML_LIBRARY, else "libnvidia-ml.so.1"
};

/// Function table of one loaded NVML library (required symbols non-null; optional may be null).
struct NvmlApi {
  std::unique_ptr<DynamicLibrary> lib;
  nvml::InitFn* init = nullptr;
  nvml::ShutdownFn* shutdown = nullptr;
  nvml::ErrorStringFn* error_string = nullptr;
  nvml::DeviceGetCountFn* device_count = nullptr;
  nvml::DeviceGetHandleByIndexFn* device_handle = nullptr;
  nvml::DeviceGetNameFn* device_name = nullptr;
  nvml::SystemGetDriverVersionFn* driver_version = nullptr;             // optional
  nvml::DeviceGetTotalEnergyConsumptionFn* total_energy = nullptr;      // optional (old drivers)
  nvml::DeviceGetFieldValuesFn* field_values = nullptr;                 // optional (old drivers)
  nvml::DeviceGetPowerUsageFn* power_usage = nullptr;                   // optional
  /// Loads the library and resolves the symbols; throws SensorUnavailable naming what failed.
  static std::unique_ptr<NvmlApi> load(const std::string& path);
  std::string error(nvmlReturn_t r) const;  ///< "NVML error 3 (Not Supported)"
};

class NvmlSensor : public Sensor {
 public:
  /// Loads NVML and probes GPU options.index. Never throws (null object on failure).
  explicit NvmlSensor(const NvmlOptions& options = {});
  ~NvmlSensor() override;  ///< nvmlShutdown (NVML reference-counts init/shutdown)
  /// NVML calls only; throws SensorError with the NVML error. Not thread-safe.
  void read(double* power_w, double* counter_j) override;
  /// The library path that would be loaded for these options (env var applied).
  static std::string library_path(const std::string& option);

 private:
  enum class PowerSource { None, Instant, Counter, Usage };
  std::unique_ptr<NvmlApi> api_;
  bool initialised_ = false;
  nvmlDevice_t device_ = nullptr;
  bool counter_ = false;
  PowerSource power_ = PowerSource::None;
  CounterPower derived_;
  double read_instant_w();
};

}  // namespace edgepower
