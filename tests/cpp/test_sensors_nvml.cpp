#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "core/sampler.hpp"
#include "core/sensors/nvml.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::wait_until;

namespace {
// Sets the fake's environment for one test and clears it afterwards.
class FakeNvmlEnv : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"FAKE_NVML_DEVICE_COUNT", "FAKE_NVML_POWER_MW", "FAKE_NVML_AVERAGE_MW",
                          "FAKE_NVML_ENERGY_STEP_MS", "FAKE_NVML_UNSUPPORTED", "FAKE_NVML_INIT_ERROR",
                          "EDGEPOWER_NVML_LIBRARY"}) {
      unsetenv(v);
    }
  }
  static NvmlOptions fake(unsigned index = 0, const char* lib = EDGEPOWER_FAKE_NVML) {
    NvmlOptions o;
    o.index = index;
    o.library = lib;
    return o;
  }
};
}  // namespace

TEST_F(FakeNvmlEnv, InstantPowerAndEnergyCounterFromTheFakeLibrary) {
  setenv("FAKE_NVML_POWER_MW", "123000", 1);
  setenv("FAKE_NVML_ENERGY_STEP_MS", "5", 1);
  NvmlSensor s(fake());
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, std::vector<std::string>{"gpu0"});
  EXPECT_TRUE(i.has_counter);
  EXPECT_EQ(i.details.at("gpu_name"), "Fake GPU 0");
  EXPECT_EQ(i.details.at("driver"), "999.99-fake");
  EXPECT_NE(i.details.at("power").find("NVML_FI_DEV_POWER_INSTANT (186)"), std::string::npos);
  double p, c0, c1;
  s.read(&p, &c0);
  EXPECT_DOUBLE_EQ(p, 123.0);
  // The counter steps by 123 W x 5 ms = 0.615 J; wait for at least two steps.
  ASSERT_TRUE(wait_until([&] { s.read(&p, &c1); return c1 - c0 > 1.0; }, 5.0));
  const double steps = (c1 - c0) / 0.615;
  EXPECT_NEAR(steps, std::round(steps), 1e-9);
  EXPECT_GE(std::round(steps), 2.0);
}

TEST_F(FakeNvmlEnv, EnvironmentVariableChoosesTheLibrary) {
  setenv("EDGEPOWER_NVML_LIBRARY", EDGEPOWER_FAKE_NVML, 1);
  EXPECT_EQ(NvmlSensor::library_path(""), EDGEPOWER_FAKE_NVML);
  NvmlSensor s{NvmlOptions{}};
  EXPECT_TRUE(s.info().available) << s.info().reason;
  EXPECT_EQ(s.info().details.at("library"), EDGEPOWER_FAKE_NVML);
}

TEST_F(FakeNvmlEnv, WithoutInstantFieldPowerComesFromTheCounter) {
  setenv("FAKE_NVML_UNSUPPORTED", "instant", 1);
  setenv("FAKE_NVML_POWER_MW", "100000", 1);
  setenv("FAKE_NVML_ENERGY_STEP_MS", "20", 1);
  NvmlSensor s(fake());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_NE(s.info().details.at("power").find("derived from the energy counter"), std::string::npos);
  EXPECT_NE(s.info().details.at("power_instant").find("Not Supported"), std::string::npos);
  double p = NAN, c;
  // Once the counter has stepped a few times (2 J each), the derived power is a step's energy
  // over the time between the reads that saw two steps: about 100 W; bounded loosely because
  // reads see each step up to one read period late.
  ASSERT_TRUE(wait_until([&] { s.read(&p, &c); return std::isfinite(p) && c > 1000.0 + 5.0; }, 5.0));
  EXPECT_GT(p, 10.0);
  EXPECT_LT(p, 1000.0);
}

TEST_F(FakeNvmlEnv, PowerUsageIsOnlyAFlaggedFallback) {
  setenv("FAKE_NVML_UNSUPPORTED", "instant,energy", 1);
  setenv("FAKE_NVML_AVERAGE_MW", "87000", 1);
  NvmlSensor s(fake());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_FALSE(s.info().has_counter);
  EXPECT_EQ(s.info().details.at("power_averaged"), "1 s");
  EXPECT_NE(s.info().details.at("power").find("1 s average"), std::string::npos);
  double p, c = NAN;
  s.read(&p, &c);
  EXPECT_DOUBLE_EQ(p, 87.0);
  EXPECT_TRUE(std::isnan(c));
}

TEST_F(FakeNvmlEnv, LegacyLibraryWithoutNewSymbolsFallsBack) {
  NvmlSensor s(fake(0, EDGEPOWER_FAKE_NVML_LEGACY));
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_FALSE(s.info().has_counter);
  EXPECT_NE(s.info().details.at("counter").find("no nvmlDeviceGetTotalEnergyConsumption"), std::string::npos);
  EXPECT_EQ(s.info().details.at("power_averaged"), "1 s");
}

TEST_F(FakeNvmlEnv, MissingRequiredSymbolNamesSymbolAndLibrary) {
  NvmlSensor s(fake(0, EDGEPOWER_FAKE_NVML_NOHANDLE));
  EXPECT_FALSE(s.info().available);
  EXPECT_NE(s.info().reason.find("symbol 'nvmlDeviceGetHandleByIndex_v2' not found in library '" +
                                 std::string(EDGEPOWER_FAKE_NVML_NOHANDLE) + "'"),
            std::string::npos)
      << s.info().reason;
}

TEST_F(FakeNvmlEnv, UnavailableCasesSayWhy) {
  NvmlSensor missing(fake(0, "/nonexistent/libnvidia-ml.so.1"));
  EXPECT_FALSE(missing.info().available);
  EXPECT_NE(missing.info().reason.find("cannot load library '/nonexistent/libnvidia-ml.so.1'"), std::string::npos);
  EXPECT_NE(missing.info().reason.find("EDGEPOWER_NVML_LIBRARY"), std::string::npos);
  NvmlSensor index(fake(3));
  EXPECT_FALSE(index.info().available);
  EXPECT_NE(index.info().reason.find("GPU index 3 does not exist: NVML sees 1 GPU(s)"), std::string::npos) << index.info().reason;
  setenv("FAKE_NVML_INIT_ERROR", "9", 1);
  NvmlSensor init(fake());
  EXPECT_FALSE(init.info().available);
  EXPECT_NE(init.info().reason.find("Driver Not Loaded"), std::string::npos) << init.info().reason;
  unsetenv("FAKE_NVML_INIT_ERROR");
  setenv("FAKE_NVML_UNSUPPORTED", "instant,energy,usage", 1);
  NvmlSensor nothing(fake());
  EXPECT_FALSE(nothing.info().available);
  EXPECT_NE(nothing.info().reason.find("neither power nor energy"), std::string::npos);
}

TEST_F(FakeNvmlEnv, SamplerRunsOnTheFakeGpu) {
  setenv("FAKE_NVML_POWER_MW", "200000", 1);
  setenv("FAKE_NVML_DEVICE_COUNT", "2", 1);
  auto s = std::make_shared<NvmlSensor>(fake(1));
  ASSERT_TRUE(s->info().available) << s->info().reason;
  EXPECT_EQ(s->info().rails, std::vector<std::string>{"gpu1"});
  Sampler sampler(s, SamplerOptions{});
  sampler.start();
  ASSERT_TRUE(wait_until([&] { return sampler.size() >= 20; }, 5.0));
  sampler.stop();
  const SampleBlock b = sampler.copy_block();
  for (std::size_t k = 0; k < b.size(); ++k) EXPECT_DOUBLE_EQ(b.power_w[k], 200.0);
  EXPECT_EQ(sampler.stats().read_errors, 0u);
}
