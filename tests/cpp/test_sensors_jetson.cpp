#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/sensors/jetson_hwmon.hpp"
#include "core/sensors/jetson_iio.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::fixture;
using edgepower::testing::TempTree;

namespace {
std::vector<double> read_power(Sensor& s) {
  std::vector<double> p(s.num_rails(), NAN), c(s.num_rails(), NAN);
  s.read(p.data(), c.data());
  return p;
}
const std::string kOrin0 = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon1/";
const std::string kNano = "sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/";
}  // namespace

TEST(JetsonHwmon, OrinRailsSkipNcAndSumAndPowerIsVoltsTimesAmps) {
  JetsonHwmonSensor s(fixture("orin"));
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.kind, "jetson-hwmon");
  EXPECT_EQ(i.rails, (std::vector<std::string>{"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC", "VDDQ_VDD2_1V8AO"}));
  EXPECT_EQ(i.total_rail, 0);  // VDD_IN
  EXPECT_TRUE(i.has_power);
  EXPECT_FALSE(i.has_counter);
  EXPECT_FALSE(i.estimated);
  // update_interval files say 6 ms and 8 ms: the slower one bounds every rail.
  EXPECT_DOUBLE_EQ(i.update_interval_s, 0.008);
  EXPECT_EQ(i.details.at("samples.1-0040"), "4");
  EXPECT_NE(i.details.at("skipped").find("'NC'"), std::string::npos);
  EXPECT_NE(i.details.at("skipped").find("sum of shunt voltages"), std::string::npos);
  const auto p = read_power(s);
  EXPECT_DOUBLE_EQ(p[0], 5000 * 1200 * 1e-6);  // 6 W
  EXPECT_DOUBLE_EQ(p[1], 5000 * 400 * 1e-6);
  EXPECT_DOUBLE_EQ(p[2], 5000 * 300 * 1e-6);
  EXPECT_DOUBLE_EQ(p[3], 4984 * 120 * 1e-6);
}

TEST(JetsonHwmon, RereadsTheSameOpenFileWithPread) {
  TempTree t("orin");
  JetsonHwmonSensor s(t.root());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  t.write(kOrin0 + "curr1_input", "2500\n");
  EXPECT_DOUBLE_EQ(read_power(s)[0], 5000 * 2500 * 1e-6);
  t.write(kOrin0 + "in1_input", "junk\n");
  try {
    read_power(s);
    FAIL() << "garbage must throw";
  } catch (const SensorError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(t.path(kOrin0 + "in1_input")), std::string::npos) << m;
    EXPECT_NE(m.find("'junk'"), std::string::npos) << m;
  }
}

TEST(JetsonHwmon, TotalFallsBackToPom5vInThenToTheSum) {
  TempTree t("orin");
  t.write(kOrin0 + "in1_label", "POM_5V_IN\n");
  {
    JetsonHwmonSensor s(t.root());
    EXPECT_EQ(s.info().rails[0], "POM_5V_IN");
    EXPECT_EQ(s.info().total_rail, 0);
  }
  t.write(kOrin0 + "in1_label", "VDD_MAIN\n");
  JetsonHwmonSensor s(t.root());
  EXPECT_EQ(s.info().total_rail, -1);
  EXPECT_EQ(s.info().details.at("total"), "sum of rails");
}

TEST(JetsonHwmon, MissingTreeIsUnavailableAndSaysWhy) {
  JetsonHwmonSensor s(fixture("nano"));
  EXPECT_FALSE(s.info().available);
  EXPECT_NE(s.info().reason.find("no INA3221 hwmon device"), std::string::npos);
  EXPECT_NE(s.info().reason.find("jetson-iio"), std::string::npos);  // the fix: the other driver
  EXPECT_THROW(s.require_available(), SensorUnavailable);
  double p[1], c[1];
  EXPECT_THROW(s.read(p, c), SensorUnavailable);
}

TEST(JetsonHwmon, BrokenTreesNameTheFileAndValue) {
  JetsonHwmonSensor missing(fixture("broken-missing"));
  EXPECT_FALSE(missing.info().available);
  EXPECT_NE(missing.info().reason.find("hwmon1/curr2_input"), std::string::npos) << missing.info().reason;
  EXPECT_NE(missing.info().reason.find("no such file"), std::string::npos) << missing.info().reason;

  JetsonHwmonSensor garbage(fixture("broken-garbage"));
  EXPECT_FALSE(garbage.info().available);
  EXPECT_NE(garbage.info().reason.find("hwmon1/in1_input holds 'abc', not an integer"), std::string::npos)
      << garbage.info().reason;

  TempTree t("orin");
  t.write(kOrin0 + "curr3_input", "");
  JetsonHwmonSensor empty(t.root());
  EXPECT_FALSE(empty.info().available);
  EXPECT_NE(empty.info().reason.find("curr3_input is empty"), std::string::npos) << empty.info().reason;
}

TEST(JetsonHwmon, PermissionDeniedNamesTheFile) {
  TempTree t("orin");
  chmod(t.path(kOrin0 + "in2_input").c_str(), 0000);
  edgepower::testing::DenyAccess deny;
  JetsonHwmonSensor s(t.root());
  EXPECT_FALSE(s.info().available);
  EXPECT_NE(s.info().reason.find("in2_input (permission denied)"), std::string::npos) << s.info().reason;
}

TEST(JetsonIio, NanoRailsUsePowerFilesOrVoltsTimesAmps) {
  JetsonIioSensor s(fixture("nano"));
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, (std::vector<std::string>{"POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"}));
  EXPECT_EQ(i.total_rail, 0);
  EXPECT_TRUE(std::isnan(i.update_interval_s));  // the IIO driver does not say
  const auto p = read_power(s);
  EXPECT_DOUBLE_EQ(p[0], 3.120);  // in_power0_input 3120 mW
  EXPECT_DOUBLE_EQ(p[1], 0.480);
  EXPECT_DOUBLE_EQ(p[2], 4976 * 180 * 1e-6);  // no in_power2_input: V * I
  EXPECT_NE(i.details.at("power.POM_5V_CPU").find("in_current2_input"), std::string::npos);
}

TEST(JetsonIio, GarbageIsUnavailableWithFileAndValue) {
  JetsonIioSensor s(fixture("broken-iio"));
  EXPECT_FALSE(s.info().available);
  EXPECT_NE(s.info().reason.find("in_power1_input holds '12.5.3', not an integer"), std::string::npos) << s.info().reason;
  JetsonIioSensor none(fixture("orin"));
  EXPECT_FALSE(none.info().available);
  EXPECT_NE(none.info().reason.find("jetson-hwmon"), std::string::npos);
}
