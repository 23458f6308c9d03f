#pragma once
// The parts of NVML's C ABI (nvml.h) that edgepower uses, declared here so that the library is
// only ever loaded at run time (never linked, no CUDA toolkit needed to build). Also used by the
// fake libnvidia-ml in tests/fake_nvml.
#include <cstdint>

extern "C" {
typedef int nvmlReturn_t;  // NVML_SUCCESS = 0
typedef struct nvmlDevice_st* nvmlDevice_t;

typedef union nvmlValue_st {
  double dVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  signed long long sllVal;
  signed int siVal;
  unsigned short usVal;
} nvmlValue_t;

typedef struct nvmlFieldValue_st {
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;    // us since 1970
  long long latencyUsec;
  int valueType;          // nvmlValueType_t
  nvmlReturn_t nvmlReturn;
  nvmlValue_t value;
} nvmlFieldValue_t;
}

namespace edgepower::nvml {
constexpr nvmlReturn_t kSuccess = 0;
constexpr nvmlReturn_t kErrorNotSupported = 3;
constexpr nvmlReturn_t kErrorInvalidArgument = 2;
constexpr nvmlReturn_t kErrorFunctionNotFound = 13;
constexpr unsigned kFieldPowerInstant = 186;  // NVML_FI_DEV_POWER_INSTANT, mW, all architectures
enum ValueType { kDouble = 0, kUInt = 1, kULong = 2, kULongLong = 3, kSLongLong = 4, kSInt = 5, kUShort = 6 };

using InitFn = nvmlReturn_t();
using ShutdownFn = nvmlReturn_t();
using ErrorStringFn = const char*(nvmlReturn_t);
using DeviceGetCountFn = nvmlReturn_t(unsigned int*);
using DeviceGetHandleByIndexFn = nvmlReturn_t(unsigned int, nvmlDevice_t*);
using DeviceGetNameFn = nvmlReturn_t(nvmlDevice_t, char*, unsigned int);
using SystemGetDriverVersionFn = nvmlReturn_t(char*, unsigned int);
using DeviceGetTotalEnergyConsumptionFn = nvmlReturn_t(nvmlDevice_t, unsigned long long*);  // mJ
using DeviceGetFieldValuesFn = nvmlReturn_t(nvmlDevice_t, int, nvmlFieldValue_t*);
using DeviceGetPowerUsageFn = nvmlReturn_t(nvmlDevice_t, unsigned int*);  // mW
}  // namespace edgepower::nvml
