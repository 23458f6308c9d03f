// The run-time library loader (csrc/core/sensors/dynlib.hpp) through the real dlopen path, on the
// fake libnvidia-ml that CMake builds in three variants (tests/fake_nvml).
#include <gtest/gtest.h>

#include <dlfcn.h>

#include <cstdlib>
#include <string>

#include "core/sensors/dynlib.hpp"
#include "core/sensors/nvml_abi.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::TempTree;

namespace {
const char* kHint = "install the test library";

std::string unavailable_message(const std::string& path) {
  try {
    DynamicLibrary lib(path, kHint);
  } catch (const SensorUnavailable& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Dynlib, LoadsTheLibraryAndCallsItsFunctions) {
  setenv("FAKE_NVML_DEVICE_COUNT", "3", 1);
  DynamicLibrary lib(EDGEPOWER_FAKE_NVML, kHint);
  EXPECT_EQ(lib.path(), EDGEPOWER_FAKE_NVML);
  auto* init = lib.load_symbol<nvml::InitFn>("nvmlInit_v2");
  auto* count = lib.load_symbol<nvml::DeviceGetCountFn>("nvmlDeviceGetCount_v2");
  auto* error_string = lib.load_symbol<nvml::ErrorStringFn>("nvmlErrorString");
  ASSERT_NE(init, nullptr);
  ASSERT_EQ(init(), 0);
  unsigned n = 0;
  ASSERT_EQ(count(&n), 0);
  EXPECT_EQ(n, 3u);  // the fake read FAKE_NVML_DEVICE_COUNT: the call really went into it
  EXPECT_STREQ(error_string(3), "Not Supported");
  // The pointer is the library's own symbol.
  void* handle = dlopen(EDGEPOWER_FAKE_NVML, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(handle, nullptr);
  EXPECT_EQ(reinterpret_cast<void*>(init), dlsym(handle, "nvmlInit_v2"));
  dlclose(handle);
  unsetenv("FAKE_NVML_DEVICE_COUNT");
}

TEST(Dynlib, MissingRequiredSymbolNamesSymbolAndLibrary) {
  DynamicLibrary lib(EDGEPOWER_FAKE_NVML_NOHANDLE, kHint);
  try {
    lib.load_symbol<nvml::DeviceGetHandleByIndexFn>("nvmlDeviceGetHandleByIndex_v2");
    FAIL() << "resolved a symbol the library does not have";
  } catch (const SensorUnavailable& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("symbol 'nvmlDeviceGetHandleByIndex_v2' not found in library '" +
                        std::string(EDGEPOWER_FAKE_NVML_NOHANDLE) + "'"),
              std::string::npos)
        << what;
    EXPECT_NE(what.find("update the driver"), std::string::npos) << what;
  }
  // The other symbols of the same library resolve.
  EXPECT_NE(lib.load_symbol<nvml::InitFn>("nvmlInit_v2"), nullptr);
}

TEST(Dynlib, OptionalSymbolIsNullWhenAbsent) {
  DynamicLibrary legacy(EDGEPOWER_FAKE_NVML_LEGACY, kHint);
  EXPECT_EQ(legacy.load_optional_symbol<nvml::DeviceGetTotalEnergyConsumptionFn>("nvmlDeviceGetTotalEnergyConsumption"),
            nullptr);
  EXPECT_EQ(legacy.load_optional_symbol<nvml::DeviceGetFieldValuesFn>("nvmlDeviceGetFieldValues"), nullptr);
  EXPECT_NE(legacy.load_optional_symbol<nvml::DeviceGetPowerUsageFn>("nvmlDeviceGetPowerUsage"), nullptr);
  // RTLD_LOCAL: with the full library loaded too, the legacy handle still does not see the
  // full library's newer symbols.
  DynamicLibrary full(EDGEPOWER_FAKE_NVML, kHint);
  EXPECT_NE(full.load_optional_symbol<nvml::DeviceGetTotalEnergyConsumptionFn>("nvmlDeviceGetTotalEnergyConsumption"),
            nullptr);
  EXPECT_EQ(legacy.load_optional_symbol<nvml::DeviceGetTotalEnergyConsumptionFn>("nvmlDeviceGetTotalEnergyConsumption"),
            nullptr);
}

TEST(Dynlib, MissingLibraryNamesPathDlerrorAndHint) {
  const std::string what = unavailable_message("/nonexistent/edgepower/libnothing.so.1");
  EXPECT_NE(what.find("cannot load library '/nonexistent/edgepower/libnothing.so.1' ("), std::string::npos) << what;
  EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;  // dlerror()
  EXPECT_NE(what.find(kHint), std::string::npos) << what;
}

TEST(Dynlib, NotASharedObjectIsUnavailableNotACrash) {
  TempTree tree;
  tree.write("libfake.so", "this is not an ELF file\n");
  const std::string what = unavailable_message(tree.path("libfake.so"));
  EXPECT_NE(what.find("cannot load library '" + tree.path("libfake.so") + "'"), std::string::npos) << what;
  EXPECT_NE(what.find(kHint), std::string::npos) << what;
}

TEST(Dynlib, DestructorClosesTheHandle) {
  // Loaded by path only here, with no other handle open: after the loader is destroyed the
  // library is unloaded and RTLD_NOLOAD no longer finds it.
  const char* path = EDGEPOWER_FAKE_NVML_NOHANDLE;
  ASSERT_EQ(dlopen(path, RTLD_NOW | RTLD_NOLOAD), nullptr) << "another test left the library open";
  {
    DynamicLibrary lib(path, kHint);
    void* h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    ASSERT_NE(h, nullptr);
    dlclose(h);
  }
  EXPECT_EQ(dlopen(path, RTLD_NOW | RTLD_NOLOAD), nullptr);
}
