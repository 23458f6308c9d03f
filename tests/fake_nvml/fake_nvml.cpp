// A fake libnvidia-ml for tests: the few NVML entry points edgepower uses, with behaviour set by
// environment variables read at nvmlInit_v2. Loaded through edgepower's real dlopen path via
// EDGEPOWER_NVML_LIBRARY. Compile: c++ -shared -fPIC -I csrc fake_nvml.cpp -o libfake_nvml.so
//   FAKE_NVML_DEVICE_COUNT   GPUs (default 1)
//   FAKE_NVML_POWER_MW       instant power (NVML_FI_DEV_POWER_INSTANT), mW (default 150000)
//   FAKE_NVML_AVERAGE_MW     nvmlDeviceGetPowerUsage (the 1 s average), mW (default = power)
//   FAKE_NVML_ENERGY_STEP_MS the energy counter steps every this many ms (default 100), by
//                            power * step; it starts at 1e6 mJ at nvmlInit_v2
//   FAKE_NVML_UNSUPPORTED    comma list of energy, instant, usage: those return NOT_SUPPORTED
//   FAKE_NVML_INIT_ERROR     nvmlInit_v2 returns this code (e.g. 9, driver not loaded)
// Build variants: -DFAKE_NVML_LEGACY leaves out nvmlDeviceGetFieldValues and
// nvmlDeviceGetTotalEnergyConsumption (an old driver); -DFAKE_NVML_NO_HANDLE leaves out
// nvmlDeviceGetHandleByIndex_v2 (a required symbol).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "core/sensors/nvml_abi.hpp"

namespace {
struct State {
  unsigned devices = 1;
  unsigned long long power_mw = 150000, average_mw = 150000, step_ms = 100;
  bool no_energy = false, no_instant = false, no_usage = false;
  long long t0_ns = 0;
} g;
}  // namespace

struct nvmlDevice_st { unsigned index; };

namespace {
nvmlDevice_st g_devices[16];

long long mono_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

unsigned long long env_u64(const char* name, unsigned long long dflt) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : dflt;
}

bool valid(nvmlDevice_t d) { return d != nullptr && d >= g_devices && d < g_devices + g.devices; }
}  // namespace

extern "C" {

nvmlReturn_t nvmlInit_v2() {
  if (const char* e = std::getenv("FAKE_NVML_INIT_ERROR"); e && *e) return std::atoi(e);
  g.devices = static_cast<unsigned>(env_u64("FAKE_NVML_DEVICE_COUNT", 1));
  if (g.devices > 16) g.devices = 16;
  g.power_mw = env_u64("FAKE_NVML_POWER_MW", 150000);
  g.average_mw = env_u64("FAKE_NVML_AVERAGE_MW", g.power_mw);
  g.step_ms = env_u64("FAKE_NVML_ENERGY_STEP_MS", 100);
  if (g.step_ms == 0) g.step_ms = 1;
  const char* u = std::getenv("FAKE_NVML_UNSUPPORTED");
  const std::string unsupported = u ? u : "";
  g.no_energy = unsupported.find("energy") != std::string::npos;
  g.no_instant = unsupported.find("instant") != std::string::npos;
  g.no_usage = unsupported.find("usage") != std::string::npos;
  g.t0_ns = mono_ns();
  for (unsigned i = 0; i < 16; ++i) g_devices[i].index = i;
  return 0;
}

nvmlReturn_t nvmlShutdown() { return 0; }

const char* nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case 0: return "Success";
    case 2: return "Invalid Argument";
    case 3: return "Not Supported";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}

nvmlReturn_t nvmlSystemGetDriverVersion(char* buf, unsigned int len) {
  std::snprintf(buf, len, "%s", "999.99-fake");
  return 0;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  *count = g.devices;
  return 0;
}

#ifndef FAKE_NVML_NO_HANDLE
nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  if (index >= g.devices) return 2;
  *device = &g_devices[index];
  return 0;
}
#endif

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int len) {
  if (!valid(device)) return 2;
  std::snprintf(name, len, "Fake GPU %u", device->index);
  return 0;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* mw) {
  if (!valid(device)) return 2;
  if (g.no_usage) return 3;
  *mw = static_cast<unsigned>(g.average_mw);
  return 0;
}

#ifndef FAKE_NVML_LEGACY
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* mj) {
  if (!valid(device)) return 2;
  if (g.no_energy) return 3;
  const unsigned long long steps = static_cast<unsigned long long>((mono_ns() - g.t0_ns) / 1000000LL) / g.step_ms;
  // mW x ms / 1000 = mJ per step
  *mj = 1000000ULL + steps * (g.power_mw * g.step_ms / 1000ULL);
  return 0;
}

nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int count, nvmlFieldValue_t* values) {
  if (!valid(device) || count < 0) return 2;
  for (int i = 0; i < count; ++i) {
    nvmlFieldValue_t& v = values[i];
    v.timestamp = mono_ns() / 1000;
    v.latencyUsec = 0;
    if (v.fieldId == 186 && !g.no_instant) {
      v.valueType = 1;  // unsigned int, as the real driver reports it
      v.value.uiVal = static_cast<unsigned>(g.power_mw);
      v.nvmlReturn = 0;
    } else {
      v.nvmlReturn = 3;
    }
  }
  return 0;
}
#endif

}  // extern "C"
