#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

#include "core/sensors/cpu_estimate.hpp"
#include "core/sensors/hwmon.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::fixture;
using edgepower::testing::TempTree;

TEST(Hwmon, EnergyModeReadsMicrojouleCountersAndSkipsIna3221) {
  TempTree t("hwmon");
  HwmonSensor s(t.root());
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, (std::vector<std::string>{"amd_energy/Ecore000", "amd_energy/Esocket0"}));
  EXPECT_TRUE(i.has_counter);
  EXPECT_EQ(i.counter_range_j, 0.0);
  double p[2], c[2];
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[0], 123.0);
  EXPECT_DOUBLE_EQ(c[1], 456.0);
  EXPECT_TRUE(std::isnan(p[0]));
  t.write("sys/class/hwmon/hwmon0/energy2_input", "458000000\n");  // +2 J
  const int64_t after_prime_bound = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const int64_t before = now_ns();
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[1], 458.0);
  EXPECT_GT(p[1], 0.0);
  EXPECT_LE(p[1], 2.0 / ((before - after_prime_bound) * 1e-9));
  EXPECT_TRUE(std::isnan(p[0]));  // that counter has not moved
}

TEST(Hwmon, PowerModeReadsMicrowattsAndFlagsAverages) {
  HwmonSensor s(fixture("hwmon"), HwmonOptions{"", "power"});
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_EQ(s.info().rails, (std::vector<std::string>{"power_meter/power1", "power_meter/power2"}));
  EXPECT_FALSE(s.info().has_counter);
  EXPECT_EQ(s.info().details.count("averaged.power_meter/power2"), 1u);
  double p[2], c[2];
  s.read(p, c);
  EXPECT_DOUBLE_EQ(p[0], 12.5);
  EXPECT_DOUBLE_EQ(p[1], 7.25);
}

TEST(Hwmon, NameFilterAndBadModeAndNothingFound) {
  HwmonSensor by_name(fixture("hwmon"), HwmonOptions{"power_meter", "auto"});
  ASSERT_TRUE(by_name.info().available);
  EXPECT_FALSE(by_name.info().has_counter);  // that device has no energy files: power mode
  EXPECT_THROW(HwmonSensor(fixture("hwmon"), HwmonOptions{"", "volts"}), std::invalid_argument);
  HwmonSensor none(fixture("orin"));
  EXPECT_FALSE(none.info().available);
  EXPECT_NE(none.info().reason.find("power<i>_input or energy<i>_input"), std::string::npos) << none.info().reason;
  TempTree t("hwmon");
  t.write("sys/class/hwmon/hwmon0/energy1_input", "12,5\n");
  HwmonSensor garbage(t.root());
  EXPECT_FALSE(garbage.info().available);
  EXPECT_NE(garbage.info().reason.find("energy1_input holds '12,5', not an integer"), std::string::npos) << garbage.info().reason;
}

TEST(CpuEstimate, PowerFollowsUtilisationBetweenReads) {
  TempTree t("cpu");
  CpuEstimateSensor s(t.root(), CpuEstimateOptions{5.0, 45.0});
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_TRUE(i.estimated);
  EXPECT_NE(i.description.find("ESTIMATE"), std::string::npos);
  EXPECT_EQ(i.rails, std::vector<std::string>{"cpu"});
  double p = 0, c = 0;
  s.read(&p, &c);
  // No jiffies elapsed since the priming read: the since-boot share holds, busy 1500 of 10000.
  EXPECT_DOUBLE_EQ(p, 5.0 + 40.0 * 0.15);
  // +300 busy (user 200, system 100), +100 idle: 75% busy.
  t.write("proc/stat", "cpu  1200 0 600 8100 500 0 0 0 0 0\ncpu0 1 2 3 4\n");
  s.read(&p, &c);
  EXPECT_DOUBLE_EQ(s.utilisation(), 0.75);
  EXPECT_DOUBLE_EQ(p, 5.0 + 40.0 * 0.75);
  // +0 busy, +50 idle and +50 iowait: 0%.
  t.write("proc/stat", "cpu  1200 0 600 8150 550 0 0 0 0 0\n");
  s.read(&p, &c);
  EXPECT_DOUBLE_EQ(p, 5.0);
}

TEST(CpuEstimate, BadOptionsAndBrokenStat) {
  EXPECT_THROW(CpuEstimateSensor(fixture("cpu"), CpuEstimateOptions{50.0, 10.0}), std::invalid_argument);
  EXPECT_THROW(CpuEstimateSensor(fixture("cpu"), CpuEstimateOptions{-1.0, 10.0}), std::invalid_argument);
  CpuEstimateSensor none(fixture("orin"));
  EXPECT_FALSE(none.info().available);
  EXPECT_NE(none.info().reason.find("proc/stat"), std::string::npos);
  TempTree t("cpu");
  t.write("proc/stat", "intr 1 2 3\n");
  CpuEstimateSensor bad(t.root());
  EXPECT_FALSE(bad.info().available);
  EXPECT_NE(bad.info().reason.find("not the aggregate 'cpu' line"), std::string::npos) << bad.info().reason;
  CpuEstimateSensor real("/");  // this machine's /proc/stat
  EXPECT_TRUE(real.info().available) << real.info().reason;
}
