#include "nvml.hpp"

#include <cstdlib>
#include <limits>

#include "../clock.hpp"

namespace edgepower {

namespace {
const char* kHint =
    "NVML ships with the NVIDIA driver (libnvidia-ml.so.1): install the driver, make sure the "
    "library is on the loader path (ldconfig -p | grep nvidia-ml), or set EDGEPOWER_NVML_LIBRARY to "
    "its full path";

double field_value(const nvmlFieldValue_t& v) {
  switch (v.valueType) {
    case nvml::kDouble: return v.value.dVal;
    case nvml::kUInt: return static_cast<double>(v.value.uiVal);
    case nvml::kULong: return static_cast<double>(v.value.ulVal);
    case nvml::kULongLong: return static_cast<double>(v.value.ullVal);
    case nvml::kSLongLong: return static_cast<double>(v.value.sllVal);
    case nvml::kSInt: return static_cast<double>(v.value.siVal);
    case nvml::kUShort: return static_cast<double>(v.value.usVal);
    default: throw SensorError("NVML field " + std::to_string(v.fieldId) + " has unknown value type " + std::to_string(v.valueType));
  }
}
}  // namespace

std::unique_ptr<NvmlApi> NvmlApi::load(const std::string& path) {
  auto api = std::make_unique<NvmlApi>();
  api->lib = std::make_unique<DynamicLibrary>(path, kHint);
  const DynamicLibrary& l = *api->lib;
  api->init = l.load_symbol<nvml::InitFn>("nvmlInit_v2");
  api->shutdown = l.load_symbol<nvml::ShutdownFn>("nvmlShutdown");
  api->error_string = l.load_symbol<nvml::ErrorStringFn>("nvmlErrorString");
  api->device_count = l.load_symbol<nvml::DeviceGetCountFn>("nvmlDeviceGetCount_v2");
  api->device_handle = l.load_symbol<nvml::DeviceGetHandleByIndexFn>("nvmlDeviceGetHandleByIndex_v2");
  api->device_name = l.load_symbol<nvml::DeviceGetNameFn>("nvmlDeviceGetName");
  api->driver_version = l.load_optional_symbol<nvml::SystemGetDriverVersionFn>("nvmlSystemGetDriverVersion");
  api->total_energy = l.load_optional_symbol<nvml::DeviceGetTotalEnergyConsumptionFn>("nvmlDeviceGetTotalEnergyConsumption");
  api->field_values = l.load_optional_symbol<nvml::DeviceGetFieldValuesFn>("nvmlDeviceGetFieldValues");
  api->power_usage = l.load_optional_symbol<nvml::DeviceGetPowerUsageFn>("nvmlDeviceGetPowerUsage");
  return api;
}

std::string NvmlApi::error(nvmlReturn_t r) const {
  const char* s = error_string ? error_string(r) : nullptr;
  return "NVML error " + std::to_string(r) + " (" + (s ? s : "?") + ")";
}

std::string NvmlSensor::library_path(const std::string& option) {
  if (!option.empty()) return option;
  const char* env = std::getenv("EDGEPOWER_NVML_LIBRARY");
  return env && *env ? env : "libnvidia-ml.so.1";
}

NvmlSensor::NvmlSensor(const NvmlOptions& options) {
  info_.kind = "nvml";
  info_.rails = {"gpu" + std::to_string(options.index)};
  info_.total_rail = 0;
  info_.has_power = true;
  info_.counter_range_j = 0.0;  // 64-bit millijoules: no wrap
  // One GPU: the largest draw about 1.2 kW (B200). A counter step implying more than 3 kW is a
  // reset (driver reload), not energy.
  info_.max_power_w = 3000.0;
  info_.details["max_power"] = "3000 W (a larger counter step is a reset)";
  const std::string path = library_path(options.library);
  info_.details["library"] = path;
  info_.details["index"] = std::to_string(options.index);
  info_.description = "NVIDIA GPU " + std::to_string(options.index) + " via NVML";
  try {
    api_ = NvmlApi::load(path);
    nvmlReturn_t r = api_->init();
    if (r != nvml::kSuccess) {
      throw SensorUnavailable("nvmlInit_v2 failed in '" + path + "': " + api_->error(r) +
                              " (is the NVIDIA driver loaded? check `nvidia-smi`)");
    }
    initialised_ = true;
    unsigned count = 0;
    r = api_->device_count(&count);
    if (r != nvml::kSuccess) throw SensorUnavailable("nvmlDeviceGetCount_v2 failed: " + api_->error(r));
    info_.details["gpus"] = std::to_string(count);
    if (options.index >= count) {
      throw SensorUnavailable("GPU index " + std::to_string(options.index) + " does not exist: NVML sees " +
                              std::to_string(count) + " GPU(s); pass nvml:index=<0.." +
                              std::to_string(count ? count - 1 : 0) + ">");
    }
    r = api_->device_handle(options.index, &device_);
    if (r != nvml::kSuccess) throw SensorUnavailable("nvmlDeviceGetHandleByIndex_v2(" + std::to_string(options.index) + ") failed: " + api_->error(r));
    char buf[96] = {0};
    if (api_->device_name(device_, buf, sizeof(buf)) == nvml::kSuccess) {
      info_.details["gpu_name"] = buf;
      info_.description = "NVIDIA " + std::string(buf) + " (GPU " + std::to_string(options.index) + ") via NVML";
    }
    if (api_->driver_version && api_->driver_version(buf, sizeof(buf)) == nvml::kSuccess) info_.details["driver"] = buf;

    // Energy counter: supported from Volta on.
    unsigned long long mj = 0;
    if (api_->total_energy == nullptr) {
      info_.details["counter"] = "unsupported: library has no nvmlDeviceGetTotalEnergyConsumption";
    } else if ((r = api_->total_energy(device_, &mj)) == nvml::kSuccess) {
      counter_ = true;
      info_.details["counter"] = "nvmlDeviceGetTotalEnergyConsumption (mJ; steps about every 100 ms)";
    } else {
      info_.details["counter"] = "unsupported on this GPU: " + api_->error(r);
    }
    info_.has_counter = counter_;

    // Power: the instant field first, then the counter, then the (averaged) power usage.
    if (api_->field_values != nullptr) {
      nvmlFieldValue_t fv{};
      fv.fieldId = nvml::kFieldPowerInstant;
      r = api_->field_values(device_, 1, &fv);
      if (r == nvml::kSuccess && fv.nvmlReturn == nvml::kSuccess) {
        power_ = PowerSource::Instant;
        info_.details["power"] = "field NVML_FI_DEV_POWER_INSTANT (186), instantaneous";
      } else {
        info_.details["power_instant"] = "unsupported: " + api_->error(r != nvml::kSuccess ? r : fv.nvmlReturn);
      }
    }
    unsigned mw = 0;
    if (power_ == PowerSource::None && counter_) {
      power_ = PowerSource::Counter;
      info_.details["power"] = "derived from the energy counter (counter difference / time between counter steps)";
      info_.power_derived = true;
    } else if (power_ == PowerSource::None && api_->power_usage && api_->power_usage(device_, &mw) == nvml::kSuccess) {
      power_ = PowerSource::Usage;
      info_.details["power"] = "nvmlDeviceGetPowerUsage fallback: a 1 s average on Ampere and newer (instantaneous only on "
                               "GA100 and older); too slow for single layers";
      info_.details["power_averaged"] = "1 s";
    }
    if (power_ == PowerSource::None) {
      throw SensorUnavailable("GPU " + std::to_string(options.index) + " reports neither power nor energy through NVML (" +
                              info_.details["counter"] + ")");
    }
    std::vector<double> p(1), c(1);
    read(p.data(), c.data());  // probe; primes the derived power
  } catch (const SensorError& e) {
    info_.available = false;
    info_.reason = e.what();
    info_.has_counter = false;
  }
}

NvmlSensor::~NvmlSensor() {
  if (initialised_ && api_) api_->shutdown();
}

double NvmlSensor::read_instant_w() {
  nvmlFieldValue_t fv{};
  fv.fieldId = nvml::kFieldPowerInstant;
  const nvmlReturn_t r = api_->field_values(device_, 1, &fv);
  if (r != nvml::kSuccess) throw SensorError("nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT) failed: " + api_->error(r));
  if (fv.nvmlReturn != nvml::kSuccess) throw SensorError("NVML_FI_DEV_POWER_INSTANT failed: " + api_->error(fv.nvmlReturn));
  return field_value(fv) * 1e-3;
}

void NvmlSensor::read(double* power_w, double* counter_j) {
  if (!info_.available) require_available();
  const int64_t t = now_ns();
  if (counter_) {
    unsigned long long mj = 0;
    const nvmlReturn_t r = api_->total_energy(device_, &mj);
    if (r != nvml::kSuccess) throw SensorError("nvmlDeviceGetTotalEnergyConsumption failed: " + api_->error(r));
    counter_j[0] = static_cast<double>(mj) * 1e-3;
  }
  switch (power_) {
    case PowerSource::Instant: power_w[0] = read_instant_w(); break;
    case PowerSource::Usage: {
      unsigned mw = 0;
      const nvmlReturn_t r = api_->power_usage(device_, &mw);
      if (r != nvml::kSuccess) throw SensorError("nvmlDeviceGetPowerUsage failed: " + api_->error(r));
      power_w[0] = mw * 1e-3;
      break;
    }
    case PowerSource::Counter:
      if (!derived_.primed()) {
        derived_.prime(counter_j, 1, 0.0, t, info_.max_power_w, info_.update_interval_s);
        power_w[0] = std::numeric_limits<double>::quiet_NaN();
      } else {
        derived_.update(counter_j, t, power_w);
      }
      break;
    case PowerSource::None: require_available();
  }
}

}  // namespace edgepower
