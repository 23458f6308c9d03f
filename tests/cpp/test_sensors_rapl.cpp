#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>
#include <vector>

#include "core/energy.hpp"
#include "core/sampler.hpp"
#include "core/sensors/rapl.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::fixture;
using edgepower::testing::TempTree;
using edgepower::testing::wait_until;

namespace {
const std::string kPkg = "sys/class/powercap/intel-rapl:0/energy_uj";
const std::string kCore = "sys/class/powercap/intel-rapl:0:0/energy_uj";
constexpr double kRangeJ = 262143.328850;

// Serialises the sensor's reads with the test's writes, so the sampler never sees a file that
// the writer has truncated but not yet refilled.
class LockedSensor : public Sensor {
 public:
  LockedSensor(SensorPtr inner, std::mutex* m) : Sensor(inner->info()), inner_(std::move(inner)), m_(m) {}
  void read(double* p, double* c) override {
    std::lock_guard<std::mutex> lock(*m_);
    inner_->read(p, c);
  }

 private:
  SensorPtr inner_;
  std::mutex* m_;
};
}  // namespace

TEST(Rapl, DiscoversZonesRangeAndTotal) {
  RaplSensor s(fixture("rapl"));
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, (std::vector<std::string>{"package-0", "package-0/core"}));  // "intel-rapl" itself is no zone
  EXPECT_EQ(i.total_rail, 0);
  EXPECT_TRUE(i.has_counter);
  EXPECT_TRUE(i.has_power);
  EXPECT_DOUBLE_EQ(i.counter_range_j, kRangeJ);
  EXPECT_DOUBLE_EQ(i.update_interval_s, 1e-3);
  double p[2], c[2];
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[0], 262143.0);
  EXPECT_DOUBLE_EQ(c[1], 1.5);
  EXPECT_TRUE(std::isnan(p[0]));  // the counter has not moved since the priming read
}

TEST(Rapl, PowerIsDerivedFromTheCounterDifference) {
  TempTree t("rapl");
  RaplSensor s(t.root());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  double p[2], c[2];
  const int64_t before1 = now_ns();
  s.read(p, c);
  const int64_t after1 = now_ns();
  t.write(kPkg, "262143000000\n");  // unchanged
  t.write(kCore, "2500000\n");      // +1 J
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t before2 = now_ns();
  s.read(p, c);
  const int64_t after2 = now_ns();
  // The core counter changed after the prime in the constructor, which happened before before1.
  // Its power is 1 J over (t2 - t_prime), with t_prime <= after1 and before2 <= t2 <= after2.
  EXPECT_LE(p[1], 1.0 / ((before2 - after1) * 1e-9));
  EXPECT_GT(p[1], 0.0);
  EXPECT_DOUBLE_EQ(c[1], 2.5);
  (void)before1;
  (void)after2;
  // Held while the counter does not change.
  const double held = p[1];
  s.read(p, c);
  EXPECT_DOUBLE_EQ(p[1], held);
}

TEST(Rapl, PsysIsTheTotalAndUnequalRangesAreUnwrappedByTheSensor) {
  TempTree t("rapl-psys");
  RaplSensor s(t.root());
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, (std::vector<std::string>{"package-0", "package-0/core", "package-0/dram", "psys"}));
  EXPECT_EQ(i.total_rail, 3);
  EXPECT_EQ(i.counter_range_j, 0.0);  // dram wraps at another range: the sensor unwraps
  EXPECT_NE(i.details.at("counter").find("unwrapped by the sensor"), std::string::npos);
  double p[4], c[4];
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[2], 65712.0);
  t.write("sys/class/powercap/intel-rapl:0:1/energy_uj", "1000\n");  // wrapped at 65712999613 uJ
  s.read(p, c);
  EXPECT_NEAR(c[2], 65712.0 + (65712999613.0 - 65712000000.0 + 1000.0) * 1e-6, 1e-9);
}

TEST(Rapl, TwoPackagesWithoutPsysLeaveSubzonesOut) {
  TempTree t;
  for (const char* z : {"intel-rapl:0", "intel-rapl:1", "intel-rapl:0:0"}) {
    const std::string d = std::string("sys/class/powercap/") + z + "/";
    t.write(d + "name", std::string(z) == "intel-rapl:0:0" ? "core\n" : (std::string("package-") + z[11] + "\n"));
    t.write(d + "energy_uj", "100\n");
    t.write(d + "max_energy_range_uj", "1000000\n");
  }
  RaplSensor s(t.root());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_EQ(s.info().rails, (std::vector<std::string>{"package-0", "package-1"}));
  EXPECT_EQ(s.info().total_rail, -1);
}

TEST(Rapl, PermissionDeniedSaysRootOnlySince2020AndHowToGrantAccess) {
  TempTree t("rapl");
  chmod(t.path(kPkg).c_str(), 0400);  // what the kernel has done since 949dd0104c49
  edgepower::testing::DenyAccess deny;
  RaplSensor s(t.root());
  EXPECT_FALSE(s.info().available);
  const std::string& r = s.info().reason;
  EXPECT_NE(r.find("permission denied reading " + t.path(kPkg)), std::string::npos) << r;
  EXPECT_NE(r.find("949dd0104c49"), std::string::npos) << r;
  EXPECT_NE(r.find("root only"), std::string::npos) << r;
  EXPECT_NE(r.find("chmod o+r"), std::string::npos) << r;
  EXPECT_NE(r.find("udev rule"), std::string::npos) << r;
}

TEST(Rapl, BrokenTreesGiveClearReasons) {
  RaplSensor empty(fixture("broken-empty"));
  EXPECT_FALSE(empty.info().available);
  EXPECT_NE(empty.info().reason.find("intel-rapl:0/energy_uj is empty"), std::string::npos) << empty.info().reason;
  TempTree t("rapl");
  t.write("sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", "lots\n");
  RaplSensor bad_range(t.root());
  EXPECT_FALSE(bad_range.info().available);
  EXPECT_NE(bad_range.info().reason.find("max_energy_range_uj holds 'lots'"), std::string::npos) << bad_range.info().reason;
  RaplSensor none(fixture("orin"));
  EXPECT_FALSE(none.info().available);
  EXPECT_NE(none.info().reason.find("modprobe intel_rapl_msr"), std::string::npos);
}

TEST(Rapl, SamplerIntegratesAcrossAWrapToTheKnownTruth) {
  TempTree t("rapl");
  auto rapl = std::make_shared<RaplSensor>(t.root());
  ASSERT_TRUE(rapl->info().available) << rapl->info().reason;
  std::mutex m;
  auto sensor = std::make_shared<LockedSensor>(rapl, &m);
  SamplerOptions o;
  o.rate_hz = 2000;
  Sampler sampler(sensor, o);
  sampler.start();
  ASSERT_TRUE(wait_until([&] { return sampler.size() >= 1; }, 5.0));
  // The writer advances the package by 0.05 J and the core by 0.02 J per step, each step after
  // the sampler has read again; the package starts 0.33 J below its wrap.
  constexpr int kSteps = 40;
  constexpr int64_t kPkgStepUj = 50000, kCoreStepUj = 20000, kRangeUj = 262143328850;
  int64_t pkg = 262143000000, core = 1500000;
  bool wrapped = false;
  for (int k = 0; k < kSteps; ++k) {
    const std::size_t seen = sampler.size();
    ASSERT_TRUE(wait_until([&] { return sampler.size() > seen; }, 5.0));
    std::lock_guard<std::mutex> lock(m);
    pkg += kPkgStepUj;
    if (pkg > kRangeUj) { pkg -= kRangeUj; wrapped = true; }
    core += kCoreStepUj;
    t.write(kPkg, std::to_string(pkg) + "\n");
    t.write(kCore, std::to_string(core) + "\n");
  }
  ASSERT_TRUE(wrapped);
  const std::size_t seen = sampler.size();
  ASSERT_TRUE(wait_until([&] { return sampler.size() > seen + 1; }, 5.0));
  sampler.stop();
  const SampleBlock b = sampler.copy_block();
  ASSERT_EQ(sampler.stats().read_errors, 0u) << sampler.stats().last_error;
  const std::size_t n = b.size();
  const double range_j = sensor->info().counter_range_j;
  const EnergyResult pkg_e = counter_energy(b.t_ns.data(), b.counter_j.data(), n, 2, range_j, b.t_ns.front(), b.t_ns.back());
  const EnergyResult core_e = counter_energy(b.t_ns.data(), b.counter_j.data() + 1, n, 2, range_j, b.t_ns.front(), b.t_ns.back());
  ASSERT_EQ(pkg_e.status, EnergyStatus::Ok);
  EXPECT_NEAR(pkg_e.energy_j, kSteps * kPkgStepUj * 1e-6, 1e-6);   // 2.0 J
  EXPECT_NEAR(core_e.energy_j, kSteps * kCoreStepUj * 1e-6, 1e-6); // 0.8 J
  // The raw column really wrapped: some reading is below the first one.
  bool saw_wrap = false;
  for (std::size_t i = 1; i < n; ++i) saw_wrap |= b.counter_j[2 * i] < b.counter_j[2 * (i - 1)];
  EXPECT_TRUE(saw_wrap);
  // Derived power is finite and positive once the counters move, and never negative at the wrap.
  std::size_t finite = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double pw = b.power_w[2 * i];
    if (std::isfinite(pw)) {
      ++finite;
      EXPECT_GT(pw, 0.0);
    }
  }
  EXPECT_GE(finite, static_cast<std::size_t>(kSteps));
}

TEST(Rapl, ResetOfEnergyUjIsNotAWrap) {
  // energy_uj goes from 1000 J to 0 (firmware or suspend reset): before, the sensor took it for
  // a wrap at max_energy_range_uj and derived about 261 kJ over one read interval.
  TempTree t("rapl");
  t.write(kPkg, "999000000\n");
  RaplSensor s(t.root());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_DOUBLE_EQ(s.info().max_power_w, 1500.0);
  double p[2], c[2];
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  t.write(kPkg, "1000000000\n");
  s.read(p, c);
  EXPECT_GT(p[0], 0.0);
  EXPECT_LT(p[0], 1.0 / 0.005 + 1e-9);  // 1 J over at least the 5 ms slept
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  t.write(kPkg, "500000\n");
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[0], 0.5);       // the raw counter is passed on
  EXPECT_TRUE(std::isnan(p[0])) << p[0] << " W";
}

TEST(Rapl, SelfUnwrappedZoneResetDropsTheCounter) {
  // Zones with unequal ranges are unwrapped by the sensor: a reset must not be added as a wrap;
  // the unwrapped counter restarts at the raw value, below the last one, so downstream sees it.
  TempTree t("rapl-psys");
  const std::string dram = "sys/class/powercap/intel-rapl:0:1/energy_uj";
  RaplSensor s(t.root());
  ASSERT_TRUE(s.info().available) << s.info().reason;
  double p[4], c[4];
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[2], 65712.0);
  t.write(dram, "3000000\n");  // 65712 J -> 3 J: through the top at 65712.999613 J, 3.999613 J: a wrap
  s.read(p, c);
  EXPECT_NEAR(c[2], 65712.0 + 3.999613, 1e-9);
  t.write(dram, "1000000\n");  // 3 J -> 1 J: 65 kJ through the top in a few ms: a reset
  s.read(p, c);
  EXPECT_DOUBLE_EQ(c[2], 1.0);
  EXPECT_TRUE(std::isnan(p[2]));
}
