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

TEST(Ina3221Emulator, RefreshInstantsAreTheRegistersOwnSchedule) {
  testing::TempTree tree;
  const int64_t o = now_ns() + 1000 * kMs;
  Ina3221Emulator emu(step_source(o), config(tree.root(), 1, 1.1e-3));
  EXPECT_TRUE(emu.refresh_instants(o, o + 66 * kMs).empty());  // no schedule origin yet
  emu.advance_to(o + 66 * kMs, o);
  const auto ch0 = emu.refresh_instants(o, o + 66 * kMs, 0);
  ASSERT_EQ(ch0.size(), 10u);
  for (std::size_t k = 0; k < ch0.size(); ++k) EXPECT_EQ(ch0[k], o + 1100000 + static_cast<int64_t>(k) * 6600000);
  EXPECT_EQ(ch0.back(), emu.registers(0).last_update_ns);
  // Any channel: one refresh every pair of conversions (2.2 ms), in time order.
  const auto any = emu.refresh_instants(o, o + 66 * kMs);
  ASSERT_EQ(any.size(), 30u);
  for (std::size_t i = 1; i < any.size(); ++i) EXPECT_EQ(any[i] - any[i - 1], 2200000);
  EXPECT_EQ(emu.refresh_instants(o + 2 * kMs, o + 3 * kMs, 2).size(), 0u);
  EXPECT_EQ(emu.refresh_instants(o + 5 * kMs, o + 6 * kMs, 2), std::vector<int64_t>{o + 5500000});
  EXPECT_THROW(emu.refresh_instants(o, o + kMs, 3), std::out_of_range);
  EXPECT_THROW(emu.refresh_instants(o, o + kMs, -2), std::out_of_range);
}

TEST(Ina3221RegisterSensor, AReadingChangesOnlyAcrossARefreshAndEachReadIsRecorded) {
  // Read in process for 40 ms of real time: whenever two reads in a row differ, a refresh of
  // some channel lies between the instants they saw the registers (the chip's schedule is
  // exact; no writer thread stands between). Noise makes nearly every conversion differ.
  testing::TempTree tree;
  Ina3221Config c = config(tree.root(), 1, 140e-6);
  c.noise_w = 0.2;
  auto emu = std::make_shared<Ina3221Emulator>(step_source(now_ns()), c);
  Ina3221RegisterSensor sensor(emu);
  EXPECT_EQ(sensor.info().kind, "ina3221-registers");
  EXPECT_EQ(sensor.num_rails(), 3u);
  EXPECT_NEAR(sensor.info().update_interval_s, 3 * 280e-6, 1e-12);
  std::vector<std::vector<double>> values;
  const int64_t end = now_ns() + 40 * kMs;
  while (now_ns() < end) {
    std::vector<double> p(3), counter(3);
    sensor.read(p.data(), counter.data());
    values.push_back(p);
  }
  const auto reads = emu->register_reads();
  ASSERT_EQ(reads.size(), values.size());
  int changes = 0;
  for (std::size_t i = 1; i < reads.size(); ++i) {
    ASSERT_GE(reads[i], reads[i - 1]);
    if (values[i] == values[i - 1]) continue;
    ++changes;
    EXPECT_FALSE(emu->refresh_instants(reads[i - 1] + 1, reads[i] + 1).empty()) << "read " << i;
  }
  // 40 ms at one refresh per 280 us: about 140 refreshes; noise of 0.2 W against a 40 mW step
  // changes nearly all (a loaded machine reads fewer times, never fewer refreshes than reads).
  EXPECT_GE(changes, 20);
}

TEST(Ina3221Emulator, UpdateIntervalAsMainlineAndPre2021DriversReportIt) {
  // N=512, 140 us, 3 channels (NVIDIA's device trees): C * (BC + SC) = 0.84 ms.
  struct Case {
    int n;
    double conv_s;
    int channels;
    bool with_averages;
    const char* expect;
  };
  const Case cases[] = {
      {512, 140e-6, 3, false, "1"},    // mainline: round(0.84 ms)
      {512, 140e-6, 3, true, "430"},   // before 2021: round(512 x 0.84 ms = 430.08 ms)
      {1, 140e-6, 1, false, "0"},      // 0.28 ms rounds to 0
      {4, 1.1e-3, 1, true, "9"},       // 4 x 2.2 ms = 8.8 ms
      {1024, 1.1e-3, 3, true, "6758"},  // 1024 x 6.6 ms = 6758.4 ms
  };
  for (const Case& k : cases) {
    testing::TempTree tree;
    Ina3221Config c = config(tree.root(), k.n, k.conv_s, k.channels);
    c.interval_includes_averages = k.with_averages;
    Ina3221Emulator emu(step_source(now_ns() + 1000 * kMs), c);
    std::string text;
    ASSERT_TRUE(sysfs::read_text(emu.hwmon_dir() + "/update_interval", &text));
    EXPECT_EQ(text, k.expect) << "N=" << k.n << " conv=" << k.conv_s << " C=" << k.channels;
  }
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
