#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "core/clock.hpp"
#include "core/energy.hpp"
#include "core/sampler.hpp"
#include "core/sensors/synthetic.hpp"

using namespace edgepower;

namespace {
// Waits (polling) until pred() or the deadline; returns pred().
template <typename Pred>
bool wait_until(Pred pred, double seconds) {
  const int64_t deadline = now_ns() + static_cast<int64_t>(seconds * 1e9);
  while (!pred()) {
    if (now_ns() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// True when the tests run under an emulator (scripts/test-aarch64.sh sets EDGEPOWER_EMULATED=1
// for qemu-user). Only assertions that say why may be relaxed there.
bool emulated() {
  const char* v = std::getenv("EDGEPOWER_EMULATED");
  return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
}

// A sensor whose reads take a fixed time (busy wait), to test missed deadlines.
class SlowSensor : public Sensor {
 public:
  explicit SlowSensor(int64_t read_ns) : Sensor(info()), read_ns_(read_ns) {}
  void read(double* p, double*) override {
    const int64_t end = now_ns() + read_ns_;
    while (now_ns() < end) {
    }
    p[0] = 1.0;
  }

 private:
  static SensorInfo info() {
    SensorInfo i;
    i.kind = "slow";
    i.rails = {"total"};
    return i;
  }
  int64_t read_ns_;
};
}  // namespace

TEST(Sampler, RejectsRatesOutsideOneHzTo20kHz) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  SamplerOptions o;
  o.rate_hz = 0.5;
  EXPECT_THROW(Sampler(s, o), std::invalid_argument);
  o.rate_hz = 20001;
  EXPECT_THROW(Sampler(s, o), std::invalid_argument);
  o.rate_hz = 20000;
  EXPECT_NO_THROW(Sampler(s, o));
  EXPECT_THROW(Sampler(nullptr, {}), std::invalid_argument);
}

TEST(Sampler, KeepsTheRateOnAbsoluteDeadlines) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{5.0, 2.0});
  SamplerOptions o;
  o.rate_hz = 2000;
  o.chunk_samples = 256;  // force many chunks
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 2000; }, 10.0));
  sm.stop();
  auto st = sm.stats();
  EXPECT_GE(st.samples, 2000u);
  // Absolute deadlines never drift: every deadline in the run is either sampled or counted as
  // missed, however late the wake-ups were.
  auto b = sm.copy_block();
  ASSERT_EQ(b.size(), st.samples);
  for (std::size_t i = 1; i < b.size(); ++i) ASSERT_GT(b.t_ns[i], b.t_ns[i - 1]);
  // Exact on any machine, however loaded: each sample's deadline (wake-up minus lateness, the
  // wake-up being the sample time minus the read) lies on the grid first deadline + k x 0.5 ms,
  // and every grid deadline up to the last sample was either sampled or counted as missed
  // (more may be counted after the last sample, when the thread stalled just before stop()).
  const int64_t period_ns = 500'000;
  auto deadline = [&](std::size_t i) { return b.t_ns[i] - b.read_ns[i] - b.lateness_ns[i]; };
  for (std::size_t i = 1; i < b.size(); ++i) ASSERT_EQ((deadline(i) - deadline(0)) % period_ns, 0) << i;
  const auto grid = static_cast<std::size_t>((deadline(b.size() - 1) - deadline(0)) / period_ns + 1);
  EXPECT_GE(st.samples + st.missed_deadlines, grid);
  if (!emulated()) {
    const double deadlines = st.duration_s * 2000.0 + 1;
    EXPECT_NEAR(static_cast<double>(st.samples + st.missed_deadlines), deadlines, deadlines * 0.005 + 2);
    EXPECT_GT(st.achieved_rate_hz, 2000.0 * 0.8);
  } else {
    // Under qemu-user every read and clock call is translated code competing for the host's
    // cores with the other tests, and the emulated thread loses whole periods to the host's
    // scheduler (1390-1560 Hz of 2000 seen on the 2-core CI machine with ctest -j 2): the
    // achieved rate measures the host, not this code, so only the grid above is exact there.
    EXPECT_GT(st.achieved_rate_hz, 2000.0 * 0.25);
  }
  EXPECT_LE(st.achieved_rate_hz, 2000.0 * 1.01);  // never faster than asked: no catching up
  EXPECT_DOUBLE_EQ(b.power_w[0], 5.0);
  EXPECT_DOUBLE_EQ(b.power_w[1], 2.0);
  EXPECT_EQ(st.identical_share, 1.0);
  EXPECT_TRUE(std::isnan(st.effective_update_interval_s));
  EXPECT_EQ(st.read_errors, 0u);
  // Energy over the recording: 7 W total.
  auto r = integrate_power(b.t_ns.data(), b.power_w.data(), b.size(), 2, b.t_ns[10], b.t_ns[1500]);
  EXPECT_NEAR(r.energy_j, 5.0 * (b.t_ns[1500] - b.t_ns[10]) * 1e-9, 1e-9);
}

TEST(Sampler, CopiesWhileRunning) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  SamplerOptions o;
  o.rate_hz = 5000;
  o.chunk_samples = 64;
  Sampler sm(s, o);
  sm.start();
  std::size_t last = 0;
  // Copy for 0.3 s and until 500 samples were copied (a deadline, not a fixed time: an emulated
  // or starved sampler thread records fewer per second; 10 s at most).
  const int64_t end = now_ns() + 300'000'000, give_up = now_ns() + 10'000'000'000;
  while (now_ns() < end || (last <= 500 && now_ns() < give_up)) {
    auto b = sm.copy_block(last);
    for (std::size_t i = 1; i < b.size(); ++i) ASSERT_GT(b.t_ns[i], b.t_ns[i - 1]);
    for (double p : b.power_w) ASSERT_EQ(p, 1.0);
    last += b.size();
  }
  sm.stop();
  EXPECT_GT(last, 500u);
  EXPECT_EQ(sm.index_at_or_after(0), 0u);
  auto b = sm.copy_block();
  EXPECT_EQ(sm.index_at_or_after(b.t_ns[100]), 100u);
  EXPECT_EQ(sm.index_at_or_after(b.t_ns[100] + 1), 101u);
  EXPECT_EQ(sm.index_at_or_after(b.t_ns.back() + 1), b.size());
}

TEST(Sampler, EffectiveUpdateIntervalOfAHeldSensor) {
  SyntheticOptions so;
  so.refresh_s = 0.005;  // value changes every 5 ms, sampled at 2 kHz
  auto s = std::make_shared<SquareSensor>(1.0, 2.0, 0.010, 0.5, so);
  SamplerOptions o;
  o.rate_hz = 2000;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 1000; }, 10.0));
  sm.stop();
  auto st = sm.stats();
  if (!emulated()) {
    EXPECT_NEAR(st.effective_update_interval_s, 0.005, 0.0005);
    EXPECT_NEAR(st.identical_share, 0.9, 0.03);  // 9 of 10 readings repeat
    return;
  }
  // Under qemu-user on a loaded host the emulated thread loses whole periods (1.9 of 10 ms
  // seen): fewer repeats per refresh, and a gap spanning two refreshes of this alternating
  // value hides both changes, lengthening the measured interval (6.3 ms seen). Those measure the
  // host. Exact on any host: the statistics are those of the recorded samples, and changes are
  // never observed more often than the refresh makes them (up to the largest sample gap,
  // spread over all the changes).
  auto b = sm.copy_block();
  std::size_t identical = 0, changes = 0;
  int64_t first = 0, last = 0, max_gap = 0;
  for (std::size_t i = 1; i < b.size(); ++i) {
    max_gap = std::max(max_gap, b.t_ns[i] - b.t_ns[i - 1]);
    if (b.power_w[i] == b.power_w[i - 1]) {
      ++identical;
    } else {
      if (changes++ == 0) first = b.t_ns[i];
      last = b.t_ns[i];
    }
  }
  ASSERT_GE(changes, 10u);
  EXPECT_DOUBLE_EQ(st.identical_share, static_cast<double>(identical) / static_cast<double>(b.size() - 1));
  EXPECT_DOUBLE_EQ(st.effective_update_interval_s, (last - first) * 1e-9 / static_cast<double>(changes - 1));
  EXPECT_GE(st.effective_update_interval_s, 0.005 - max_gap * 1e-9 / static_cast<double>(changes - 1));
}

TEST(Sampler, MissedDeadlinesAreCountedNotCaughtUp) {
  auto s = std::make_shared<SlowSensor>(2'500'000);  // 2.5 ms reads at 1 kHz
  SamplerOptions o;
  o.rate_hz = 1000;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 100; }, 10.0));
  sm.stop();
  auto st = sm.stats();
  auto b = sm.copy_block();
  // No burst: consecutive samples are at least one read apart, never back to back.
  for (std::size_t i = 1; i < b.size(); ++i) ASSERT_GE(b.t_ns[i] - b.t_ns[i - 1], 2'400'000);
  EXPECT_GT(st.missed_deadlines, st.samples);  // two of every three deadlines are skipped
  EXPECT_LT(st.achieved_rate_hz, 400.0);
  EXPECT_GE(st.read_p50_us, 2500.0);
}

TEST(Sampler, ReadErrorsAreCountedAndSamplingGoesOn) {
  auto inner = std::make_shared<ConstantSensor>(std::vector<double>{3.0});
  auto s = std::make_shared<FailingSensor>(inner, 10, 5);  // reads 10..14 fail
  SamplerOptions o;
  o.rate_hz = 1000;
  o.max_consecutive_failures = 6;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 50; }, 10.0));
  EXPECT_NO_THROW(sm.stop());
  auto st = sm.stats();
  EXPECT_EQ(st.read_errors, 5u);
  EXPECT_FALSE(st.failed);
  EXPECT_EQ(st.last_error, "injected failure");
}

TEST(Sampler, StopsAfterConsecutiveFailuresAndStopRaisesTheCause) {
  auto inner = std::make_shared<ConstantSensor>(std::vector<double>{3.0});
  auto s = std::make_shared<FailingSensor>(inner, 20, -1, "device unplugged");
  SamplerOptions o;
  o.rate_hz = 1000;
  o.max_consecutive_failures = 5;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.failed(); }, 10.0));
  EXPECT_TRUE(wait_until([&] { return !sm.running(); }, 1.0));
  try {
    sm.stop();
    FAIL() << "stop() should raise the cause";
  } catch (const SensorError& e) {
    EXPECT_NE(std::string(e.what()).find("device unplugged"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("5 consecutive"), std::string::npos);
  }
  EXPECT_EQ(sm.size(), 20u);  // what was recorded stays readable
  EXPECT_NO_THROW(sm.stop()); // reported once
}

TEST(Sampler, StopReturnsWithinAPeriodPlusARead) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  SamplerOptions o;
  o.rate_hz = 1;  // a 1 s period
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 1; }, 5.0));
  const int64_t t0 = now_ns();
  sm.stop();
  EXPECT_LT(now_ns() - t0, 1'100'000'000);
  EXPECT_FALSE(sm.running());
}

TEST(Sampler, RestartAppendsAndDestroyingARunningSamplerIsSafe) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  {
    Sampler sm(s, {});
    sm.start();
    EXPECT_THROW(sm.start(), std::logic_error);
    ASSERT_TRUE(wait_until([&] { return sm.size() >= 10; }, 5.0));
    sm.stop();
    const std::size_t first = sm.size();
    sm.start();
    ASSERT_TRUE(wait_until([&] { return sm.size() >= first + 10; }, 5.0));
  }  // destroyed while running
  SUCCEED();
}

TEST(Sampler, UnavailableSensorRefusesToStart) {
  class Missing : public Sensor {
   public:
    Missing() : Sensor(make()) {}
    void read(double*, double*) override { throw SensorError("unreachable"); }
    static SensorInfo make() {
      SensorInfo i;
      i.kind = "missing";
      i.rails = {"x"};
      i.available = false;
      i.reason = "no such device; plug it in";
      return i;
    }
  };
  Sampler sm(std::make_shared<Missing>(), {});
  try {
    sm.start();
    FAIL();
  } catch (const SensorUnavailable& e) {
    EXPECT_NE(std::string(e.what()).find("plug it in"), std::string::npos);
  }
}
