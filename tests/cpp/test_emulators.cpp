// The INA3221 and NVML-like emulators: refresh timing, running-average step response,
// quantisation, and files the real jetson-hwmon sensor reads. Deterministic: the model is
// advanced with advance_to() on a fixed origin, except one test of the thread (deadline loop).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/clock.hpp"
#include "testing/ina3221.hpp"
#include "testing/nvml_like.hpp"
#include "core/sensors/jetson_hwmon.hpp"
#include "core/sensors/synthetic.hpp"
#include "core/sensors/sysfs.hpp"
#include "sensor_fixtures.hpp"

namespace edgepower {
namespace {

constexpr int64_t kMs = 1000000;

// A step from 2 W to 7 W at origin + 100 ms (piecewise, exact energies).
std::shared_ptr<SyntheticSensor> step_source(int64_t origin, double step_at_s = 0.1) {
  SyntheticOptions o;
  o.origin_ns = origin;
  return std::make_shared<PiecewiseSensor>(std::vector<double>{0.0, step_at_s}, std::vector<double>{2.0, 7.0}, true, o);
}

Ina3221Config config(const std::string& root, int n, double conv_s, std::size_t channels = 3) {
  Ina3221Config c;
  c.root = root;
  c.averages = n;
  c.bus_conversion_s = c.shunt_conversion_s = conv_s;
  c.labels.resize(channels);
  return c;
}

TEST(Ina3221Emulator, RefreshEveryChannelsTimesConversions) {
  testing::TempTree tree;
  const int64_t o = now_ns() + 1000 * kMs;  // future origin: construction-time steady state is 2 W
  Ina3221Emulator emu(step_source(o), config(tree.root(), 1, 1.1e-3));
  EXPECT_NEAR(emu.refresh_s(), 6.6e-3, 1e-12);
  emu.advance_to(o + 66 * kMs, o);
  // Channel 0's shunt register refreshes at o + 1.1 ms + k * 6.6 ms: 10 refreshes by 66 ms.
  EXPECT_EQ(emu.registers(0).updates, 10u);
  EXPECT_EQ(emu.registers(0).last_update_ns, o + 1100000 + 9 * 6600000);
  // Channel 2 converts 4.4 ms later in each cycle.
  EXPECT_EQ(emu.registers(2).last_update_ns, o + 4400000 + 1100000 + 9 * 6600000);
  EXPECT_EQ(emu.conversions(), 60u);
  std::string text;
  ASSERT_TRUE(sysfs::read_text(emu.hwmon_dir() + "/update_interval", &text));
  EXPECT_EQ(text, "7");  // 6.6 ms rounded to whole ms, as the driver reports it
  ASSERT_TRUE(sysfs::read_text(emu.hwmon_dir() + "/samples", &text));
  EXPECT_EQ(text, "1");
}

TEST(Ina3221Emulator, QuantisesBusAndCurrent) {
  testing::TempTree tree;
  const int64_t o = now_ns() + 1000 * kMs;
  Ina3221Config c = config(tree.root(), 1, 140e-6, 1);
  c.bus_v = 5.003;  // 8 mV LSB: reads 5000 mV
  Ina3221Emulator emu(step_source(o), c);
  emu.advance_to(o + 50 * kMs, o);
  const Ina3221Registers r = emu.registers(0);
  EXPECT_EQ(r.bus_mv, 5000);
  // 2 W / 5.003 V = 399.76 mA -> 1.9988 mV over 5 mOhm -> 50 LSB of 40 uV = 2000 uV -> 400 mA.
  EXPECT_EQ(r.shunt_uv, 2000);
  EXPECT_EQ(r.current_ma, 400);
  EXPECT_EQ(r.shunt_uv % 40, 0);
  EXPECT_EQ(r.current_ma % 8, 0);  // 40 uV / 5 mOhm = 8 mA
}

TEST(Ina3221Emulator, FilterStepResponseFollowsRunningAverage) {
  testing::TempTree tree;
  const int64_t o = now_ns() + 1000 * kMs;
  // One channel, 140 us + 140 us: a refresh every 280 us; N = 16.
  Ina3221Emulator emu(step_source(o, 0.1), config(tree.root(), 16, 140e-6, 1));
  emu.advance_to(o + 100 * kMs, o);
  EXPECT_NEAR(emu.registers(0).current_ma * 5.0 / 1000, 2.0, 0.02);  // settled at 2 W
  // After k conversions of the 7 W level: out = 7 - 5 * (1 - 1/16)^k (to an LSB).
  const uint64_t before = emu.registers(0).updates;
  emu.advance_to(o + 100 * kMs + 16 * 280000, o);
  const uint64_t k = emu.registers(0).updates - before;
  ASSERT_GE(k, 15u);
  const double expect_w = 7.0 - 5.0 * std::pow(1.0 - 1.0 / 16, static_cast<double>(k));
  EXPECT_NEAR(emu.registers(0).current_ma * 5.0 / 1000, expect_w, 0.045);  // one LSB is 40 mW
  EXPECT_LT(expect_w, 6.0);  // still far from 7 W: the reading lags
  emu.advance_to(o + 100 * kMs + 200 * 280000, o);
  EXPECT_NEAR(emu.registers(0).current_ma * 5.0 / 1000, 7.0, 0.045);
  EXPECT_NEAR(emu.filter_tau_s(), 16 * 280e-6, 1e-12);
}

TEST(Ina3221Emulator, ConversionIntegratesOverItsInterval) {
  testing::TempTree tree;
  const int64_t o = now_ns() + 1000 * kMs;
  // Step in the middle of channel 0's 12th shunt conversion: [o + 11 * 2.2 ms, + 1.1 ms].
  const double step_s = (11 * 2.2e-3 + 0.55e-3);
  Ina3221Emulator emu(step_source(o, step_s), config(tree.root(), 1, 1.1e-3, 1));
  emu.advance_to(o + 11 * 2200000 + 1100000, o);
  // Mean of 2 W and 7 W over the conversion: 4.5 W -> 900 mA (quantised to 8 mA: 896 or 904).
  EXPECT_NEAR(emu.registers(0).current_ma, 900, 4.01);
}

TEST(Ina3221Emulator, RealSensorReadsTheTreeAndSeesUpdates) {
  testing::TempTree tree;
  const int64_t o = now_ns() + 1000 * kMs;
  Ina3221Emulator emu(step_source(o), config(tree.root(), 1, 1.1e-3));
  JetsonHwmonSensor sensor(tree.root());
  ASSERT_TRUE(sensor.info().available) << sensor.info().reason;
  ASSERT_EQ(sensor.info().rails.size(), 3u);
  EXPECT_EQ(sensor.info().rails[0], "VDD_IN");
  EXPECT_EQ(sensor.info().total_rail, 0);
  EXPECT_NEAR(sensor.info().update_interval_s, 0.007, 1e-12);
  double p[3], c[3];
  sensor.read(p, c);
  EXPECT_NEAR(p[0], 2.0, 0.021);
  EXPECT_NEAR(p[1], 1.2, 0.021);
  emu.advance_to(o + 200 * kMs, o);
  sensor.read(p, c);  // same open fds: pread sees the in-place update
  EXPECT_NEAR(p[0], 7.0, 0.021);
  EXPECT_NEAR(p[2], 1.75, 0.021);
}

TEST(Ina3221Emulator, ThreadAdvancesInRealTime) {
  testing::TempTree tree;
  SyntheticOptions so;
  auto source = std::make_shared<ConstantSensor>(std::vector<double>{3.0}, so);
  Ina3221Emulator emu(source, config(tree.root(), 1, 140e-6));
  emu.start();
  const int64_t deadline = now_ns() + 2000 * kMs;
  while (emu.registers(0).updates < 20 && now_ns() < deadline) sleep_until_ns(now_ns() + kMs);
  emu.stop();
  EXPECT_GE(emu.registers(0).updates, 20u);
  EXPECT_FALSE(emu.running());
  EXPECT_EQ(emu.registers(0).current_ma, 600);
}

TEST(Ina3221Emulator, RejectsBadSettings) {
  testing::TempTree tree;
  auto src = step_source(now_ns());
  EXPECT_THROW(Ina3221Emulator(src, config(tree.root(), 3, 1.1e-3)), std::invalid_argument);
  EXPECT_THROW(Ina3221Emulator(src, config(tree.root(), 1, 1e-3)), std::invalid_argument);
  EXPECT_THROW(Ina3221Emulator(src, config(tree.root() + "/missing", 1, 1.1e-3)), std::invalid_argument);
  EXPECT_THROW(Ina3221Emulator(src, config(tree.root(), 1, 1.1e-3, 4)), std::invalid_argument);
  EXPECT_THROW(Ina3221Emulator(nullptr, config(tree.root(), 1, 1.1e-3)), std::invalid_argument);
}

TEST(NvmlLike, CounterStepsEvery100ms) {
  const int64_t o = now_ns() - 10000 * kMs;
  SyntheticOptions so;
  so.origin_ns = o;
  auto src = std::make_shared<ConstantSensor>(std::vector<double>{50.0}, so);
  NvmlLikeOptions no;
  no.origin_ns = o;
  NvmlCounterEmulator counter(src, no);
  EXPECT_FALSE(counter.info().has_power);
  EXPECT_TRUE(counter.info().has_counter);
  double p, c;
  counter.read(&p, &c);
  const int64_t u = counter.last_update_ns(now_ns());
  EXPECT_EQ((u - o) % (100 * kMs), 0);
  // The counter holds the energy at the last step: 50 W x (u - o), in whole mJ.
  EXPECT_NEAR(c, 50.0 * (u - o) * 1e-9, 1e-3 + 50.0 * 0.1);
  EXPECT_TRUE(std::isnan(p));
  EXPECT_NEAR(counter.true_energy_j(o, o + 100 * kMs), 5.0, 1e-9);
}

TEST(NvmlLike, InstantObservesOnlyTheBoxcarBeforeEachUpdate) {
  const int64_t o = now_ns() - 10000 * kMs;
  SyntheticOptions so;
  so.origin_ns = o;
  // 100 W for 50 ms then 20 W for 50 ms, every 100 ms (true mean 60 W); each update observes only
  // the 25 ms before it, always in the 20 W half: the reading is 20 W, the blind spot of Yang et al.
  auto src = std::make_shared<SquareSensor>(20.0, 100.0, 0.1, 0.5, so);
  NvmlLikeOptions no;
  no.origin_ns = o;
  no.noise_w = 0.0;
  NvmlInstantEmulator inst(src, no);
  EXPECT_NEAR(inst.observed_w(o + 5 * 100 * kMs + kMs), 20.0, 1e-9);
  EXPECT_NEAR(inst.true_energy_j(o, o + 100 * kMs) / 0.1, 60.0, 1e-9);
  double p, c;
  inst.read(&p, &c);
  EXPECT_NEAR(p, 20.0, 1e-9);
  EXPECT_THROW(NvmlInstantEmulator(src, [] { NvmlLikeOptions x; x.window_s = 0.2; return x; }()), std::invalid_argument);
}

}  // namespace
}  // namespace edgepower
