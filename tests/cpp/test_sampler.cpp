#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
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

// A one-rail counter sensor that plays a fixed list of counter readings (J), then holds the last.
class ScriptedCounter : public Sensor {
 public:
  ScriptedCounter(std::vector<double> counts, double range_j, double max_power_w)
      : Sensor(make(range_j, max_power_w)), counts_(std::move(counts)) {}
  void read(double* p, double* c) override {
    const double v = counts_[std::min(k_, counts_.size() - 1)];
    ++k_;
    c[0] = v;
    p[0] = 1.0;
  }

 private:
  static SensorInfo make(double range_j, double max_power_w) {
    SensorInfo i;
    i.kind = "scripted";
    i.rails = {"pkg"};
    i.has_counter = true;
    i.counter_range_j = range_j;
    i.max_power_w = max_power_w;
    return i;
  }
  std::vector<double> counts_;
  std::size_t k_ = 0;
};

// Gives n readings, then reports that it has no more data (like a replay at its end).
class FiniteSensor : public Sensor {
 public:
  explicit FiniteSensor(int n) : Sensor(make()), n_(n) {}
  void read(double* p, double*) override {
    if (k_++ >= n_) throw SensorExhausted("recording over after " + std::to_string(n_) + " readings");
    p[0] = 2.0;
  }

 private:
  static SensorInfo make() {
    SensorInfo i;
    i.kind = "finite";
    i.rails = {"total"};
    return i;
  }
  int n_, k_ = 0;
};

double exact_quantile_us(std::vector<int32_t> v, double q) {
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}
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
  // Copy until 500 samples went through the copies (at least 300 ms): a loaded machine may
  // sample slower than 5 kHz, and the point is copying during sampling, not the rate.
  const int64_t min_end = now_ns() + 300'000'000, deadline = now_ns() + 20'000'000'000;
  while ((now_ns() < min_end || last <= 500) && now_ns() < deadline) {
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
    // Each 5 ms refresh changes the reading once; the other readings repeat it. At the full 2 kHz
    // that is 9 of 10; on a loaded machine the sampler may skip deadlines, so compare with the
    // rate it achieved: share = 1 - 1 / (0.005 s x achieved rate).
    EXPECT_NEAR(st.identical_share, 1.0 - 1.0 / (0.005 * st.achieved_rate_hz), 0.03);
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
  EXPECT_EQ(sm.stats().stop_reason, "failures");
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

// ---- memory cap and policy (issue 14) ---------------------------------------------------------

TEST(SamplerMemory, DefaultCapIsTenPercentOfPhysicalRam) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0, 2.0, 3.0, 4.0});
  Sampler sm(s, {});
  const std::size_t ram = Sampler::physical_memory_bytes();
  ASSERT_GT(ram, 0u);
  EXPECT_EQ(sm.bytes_per_sample(), 8u + 4u + 4u + 4u * 8u);  // t, read, lateness, 4 rails of power
  EXPECT_EQ(sm.max_samples(), ram / 10 / sm.bytes_per_sample());
  SamplerOptions o;
  o.max_memory_bytes = 4800;
  EXPECT_EQ(Sampler(s, o).max_samples(), 100u);
  o.max_samples = 7;
  EXPECT_THROW(Sampler(s, o), std::invalid_argument);  // one cap, not two
  o.max_memory_bytes = 0;
  EXPECT_EQ(Sampler(s, o).max_samples(), 7u);
  o = {};
  o.max_memory_bytes = 10;  // less than one sample
  EXPECT_THROW(Sampler(s, o), std::invalid_argument);
  EXPECT_THROW(parse_memory_policy("forever"), std::invalid_argument);
}

TEST(SamplerMemory, StopPolicyStopsAtTheCapWithAClearError) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  SamplerOptions o;
  o.rate_hz = 2000;
  o.max_samples = 50;
  o.chunk_samples = 16;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.failed(); }, 10.0));
  EXPECT_TRUE(wait_until([&] { return !sm.running(); }, 1.0));
  try {
    sm.stop();
    FAIL() << "stop() must say that the cap stopped sampling";
  } catch (const SamplerLimitError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("memory cap: 50 samples"), std::string::npos) << m;
    EXPECT_NE(m.find("max_memory_mb="), std::string::npos) << m;
    EXPECT_NE(m.find("memory_policy='rolling'"), std::string::npos) << m;
    EXPECT_EQ(m.find("consecutive failed reads"), std::string::npos) << m;
  }
  EXPECT_EQ(sm.size(), 50u);
  const SamplerStats st = sm.stats();
  EXPECT_TRUE(st.limit_reached);
  EXPECT_EQ(st.stop_reason, "sample cap");
  EXPECT_EQ(st.read_errors, 0u);
  EXPECT_EQ(st.max_samples, 50u);
  EXPECT_EQ(st.dropped_samples, 0u);
  EXPECT_THROW(sm.start(), SamplerLimitError);  // still full
  EXPECT_EQ(sm.copy_block().size(), 50u);       // everything recorded stays readable
}

TEST(SamplerMemory, FullChunkTableSaysSoNotConsecutiveFailures) {
  // Before: the table filling was reported as "stopped after 100 consecutive failed reads" with
  // read_errors=1, and it stopped half a chunk early (allocating ahead failed).
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  SamplerOptions o;
  o.rate_hz = 5000;
  o.chunk_samples = 16;
  o.max_chunks = 4;  // 64 samples addressable
  o.max_samples = 1000000;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.failed(); }, 10.0));
  try {
    sm.stop();
    FAIL();
  } catch (const SamplerLimitError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("chunk table is full (4 chunks of 16 samples = 64 samples"), std::string::npos) << m;
    EXPECT_EQ(m.find("consecutive"), std::string::npos) << m;
  }
  EXPECT_EQ(sm.size(), 64u);  // every addressable slot used
  EXPECT_EQ(sm.stats().read_errors, 0u);
  EXPECT_EQ(sm.stats().stop_reason, "chunk table");
}

namespace {
// The rolling policy with chunks of 16 samples.
SamplerOptions rolling(double rate_hz, std::size_t max_samples, std::size_t max_chunks) {
  SamplerOptions o;
  o.rate_hz = rate_hz;
  o.chunk_samples = 16;
  o.max_samples = max_samples;
  o.memory_policy = MemoryPolicy::Rolling;
  o.max_chunks = max_chunks;
  return o;
}
}  // namespace

TEST(SamplerMemory, RollingKeepsTheNewestSamplesAndCountsDropped) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  Sampler sm(s, rolling(10000, 40, 8));
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 2000; }, 20.0));  // 31 times the table
  sm.stop();                                                         // no limit error
  const SamplerStats st = sm.stats();
  EXPECT_FALSE(st.failed);
  EXPECT_EQ(st.memory_policy, MemoryPolicy::Rolling);
  EXPECT_EQ(st.samples, sm.size());
  EXPECT_EQ(st.dropped_samples, sm.first_index());
  EXPECT_EQ(st.retained_samples + st.dropped_samples, st.samples);
  // At least the cap is kept, at most the cap rounded up to chunks plus the chunk being written.
  EXPECT_GE(st.retained_samples, 40u);
  EXPECT_LE(st.retained_samples, 48u + 16u);
  EXPECT_EQ(sm.first_index() % 16, 0u);
  const SampleBlock b = sm.copy_block();  // from 0: starts at the oldest kept sample
  EXPECT_EQ(b.begin, sm.first_index());
  EXPECT_EQ(b.size(), st.retained_samples);
  for (std::size_t i = 1; i < b.size(); ++i) ASSERT_GT(b.t_ns[i], b.t_ns[i - 1]);
  // Running statistics still cover every sample recorded, dropped ones included.
  EXPECT_EQ(st.identical_share, 1.0);
  EXPECT_GT(st.duration_s, (b.t_ns.back() - b.t_ns.front()) * 1e-9);
  EXPECT_EQ(sm.index_at_or_after(0), sm.first_index());
  EXPECT_EQ(sm.index_at_or_after(b.t_ns[5]), sm.first_index() + 5);
}

TEST(SamplerMemory, RollingKeepsWhatAConsumerHoldsUpToTheCapAgain) {
  // Cap 48 samples = 3 chunks of 16. A consumer that has not copied samples yet (a spool writer
  // starved of CPU) holds them: they stay past the cap, for at most 3 chunks more.
  auto first_after = [](int reads, std::size_t hold) {
    Sampler sm(std::make_shared<FiniteSensor>(reads), rolling(20000, 48, 16));
    if (hold != Sampler::kNoHold) sm.add_hold(hold);
    sm.start();
    EXPECT_TRUE(wait_until([&] { return sm.finished(); }, 20.0));
    sm.stop();
    EXPECT_EQ(sm.size(), static_cast<std::size_t>(reads));
    const SampleBlock b = sm.copy_block();
    EXPECT_EQ(b.begin, sm.first_index());
    EXPECT_EQ(b.size(), sm.size() - sm.first_index());
    return sm.first_index();
  };
  // 97 readings: the last opens chunk 6; with no hold chunks 0-2 go (the 3 behind it stay).
  EXPECT_EQ(first_after(97, Sampler::kNoHold), 48u);
  EXPECT_EQ(first_after(97, 20), 16u);  // held from sample 20 (chunk 1): chunk 0 goes, 1 and 2 stay
  EXPECT_EQ(first_after(97, 0), 0u);    // held from 0: all 6 chunks behind stay (cap + 3 held)
  EXPECT_EQ(first_after(97, 96), 48u);  // a consumer that has it all lets the cap work as usual
  // 161 readings open chunk 10: a hold stuck at 0 keeps 3 chunks past the cap's 3, no more.
  EXPECT_EQ(first_after(161, 0), 64u);
}

TEST(SamplerMemory, RollingKeepsWhatTheFurthestBehindOfSeveralConsumersHolds) {
  // Same cap (3 chunks of 16), 97 readings: the oldest of the consumers' holds counts, a
  // consumer that holds nothing yet or was removed counts for nothing.
  auto first_after = [](auto setup) {
    Sampler sm(std::make_shared<FiniteSensor>(97), rolling(20000, 48, 16));
    setup(sm);
    sm.start();
    EXPECT_TRUE(wait_until([&] { return sm.finished(); }, 20.0));
    sm.stop();
    return sm.first_index();
  };
  EXPECT_EQ(first_after([](Sampler& sm) { sm.add_hold(96); sm.add_hold(20); }), 16u);  // a log behind a spool
  EXPECT_EQ(first_after([](Sampler& sm) { sm.add_hold(20); sm.add_hold(96); sm.add_hold(); }), 16u);
  EXPECT_EQ(first_after([](Sampler& sm) {
              const std::size_t behind = sm.add_hold(0);
              sm.add_hold(96);
              sm.remove_hold(behind);  // that consumer finished: it holds nothing now
            }),
            48u);
  EXPECT_EQ(first_after([](Sampler& sm) {
              const std::size_t h = sm.add_hold();
              sm.hold_from(h, 0);  // registered first, holding later
              sm.hold_from(h, 40);
            }),
            32u);
}

TEST(SamplerMemory, HoldSlotsAreCountedReusedAndChecked) {
  Sampler sm(std::make_shared<ConstantSensor>(std::vector<double>{1.0}), rolling(1000, 48, 16));
  std::vector<std::size_t> ids;
  for (std::size_t i = 0; i < Sampler::kMaxHolds; ++i) ids.push_back(sm.add_hold(i));
  EXPECT_EQ(std::set<std::size_t>(ids.begin(), ids.end()).size(), Sampler::kMaxHolds);
  try {
    sm.add_hold(0);
    FAIL() << "a ninth consumer was accepted";
  } catch (const std::length_error& e) {
    EXPECT_NE(std::string(e.what()).find("stop one before adding another"), std::string::npos) << e.what();
  }
  sm.remove_hold(ids[3]);
  EXPECT_EQ(sm.add_hold(), ids[3]);  // the freed slot is taken again
  sm.remove_hold(ids[5]);
  EXPECT_THROW(sm.hold_from(ids[5], 0), std::out_of_range);  // removed: not a consumer any more
  EXPECT_THROW(sm.hold_from(Sampler::kMaxHolds, 0), std::out_of_range);
  sm.remove_hold(Sampler::kMaxHolds + 7);  // unknown: ignored
}

TEST(SamplerMemory, RollingCopiesWhileChunksAreDropped) {
  // Readers copy while the writer drops and reuses chunks at 20 kHz with tiny chunks: copies
  // start at or after first_index() and hold only whole, ordered samples (TSan checks the rest).
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0, 2.0});
  Sampler sm(s, rolling(20000, 32, 8));
  sm.start();
  std::atomic<bool> done{false};
  std::atomic<std::size_t> copies{0};
  auto reader = [&] {
    while (!done) {
      const std::size_t since = sm.size() > 40 ? sm.size() - 40 : 0;
      const SampleBlock b = sm.copy_block(since);
      ASSERT_GE(b.begin, since);
      for (std::size_t i = 0; i < b.size(); ++i) {
        ASSERT_EQ(b.power_w[2 * i], 1.0);
        ASSERT_EQ(b.power_w[2 * i + 1], 2.0);
        if (i) ASSERT_GT(b.t_ns[i], b.t_ns[i - 1]);
      }
      sm.index_at_or_after(now_ns());
      ++copies;
    }
  };
  std::thread r1(reader), r2(reader);
  wait_until([&] { return sm.size() >= 4000; }, 20.0);
  done = true;
  r1.join();
  r2.join();
  sm.stop();
  EXPECT_GT(copies.load(), 10u);
  EXPECT_GT(sm.first_index(), 0u);
}

TEST(SamplerMemory, RollingCapTooLargeForTheTableIsRejected) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{1.0});
  SamplerOptions o;
  o.chunk_samples = 16;
  o.max_chunks = 8;
  o.max_samples = 16 * 6;
  o.memory_policy = MemoryPolicy::Rolling;
  try {
    Sampler sm(s, o);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("raise chunk_samples"), std::string::npos) << e.what();
  }
}

// ---- running statistics ------------------------------------------------------------------

TEST(SamplerStats, RunningStatisticsMatchTheSamples) {
  SyntheticOptions so;
  so.refresh_s = 0.002;
  auto s = std::make_shared<SquareSensor>(1.0, 2.0, 0.006, 0.5, so);
  SamplerOptions o;
  o.rate_hz = 5000;
  o.chunk_samples = 64;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 3000; }, 20.0));
  sm.stop();
  const SamplerStats st = sm.stats();
  const SampleBlock b = sm.copy_block();
  ASSERT_EQ(b.size(), st.samples);
  const std::size_t n = b.size();
  EXPECT_DOUBLE_EQ(st.duration_s, (b.t_ns[n - 1] - b.t_ns[0]) * 1e-9);
  EXPECT_DOUBLE_EQ(st.achieved_rate_hz, (n - 1) / st.duration_s);
  // Histogram percentiles: within half a bucket (1/128 relative) and 1 ns of the exact ones.
  for (auto [got, v, q] : {std::make_tuple(st.lateness_p50_us, b.lateness_ns, 0.5),
                           std::make_tuple(st.lateness_p99_us, b.lateness_ns, 0.99),
                           std::make_tuple(st.read_p50_us, b.read_ns, 0.5),
                           std::make_tuple(st.read_p99_us, b.read_ns, 0.99)}) {
    const double want = exact_quantile_us(v, q);
    EXPECT_NEAR(got, want, want / 128 + 0.001) << q;
  }
  EXPECT_DOUBLE_EQ(st.lateness_max_us, *std::max_element(b.lateness_ns.begin(), b.lateness_ns.end()) / 1000.0);
  EXPECT_DOUBLE_EQ(st.read_max_us, *std::max_element(b.read_ns.begin(), b.read_ns.end()) / 1000.0);
  std::size_t identical = 0, changes = 0;
  int64_t first = 0, last = 0;
  for (std::size_t i = 1; i < n; ++i) {
    if (b.power_w[i] == b.power_w[i - 1]) {
      ++identical;
    } else {
      if (!changes++) first = b.t_ns[i];
      last = b.t_ns[i];
    }
  }
  EXPECT_DOUBLE_EQ(st.identical_share, static_cast<double>(identical) / (n - 1));
  ASSERT_GE(changes, 2u);
  EXPECT_DOUBLE_EQ(st.effective_update_interval_s, (last - first) * 1e-9 / (changes - 1));
}

TEST(SamplerStats, NegativePowerIsCountedPerRail) {
  auto s = std::make_shared<ConstantSensor>(std::vector<double>{-5.0, 3.0});
  SamplerOptions o;
  o.rate_hz = 2000;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 20; }, 10.0));
  sm.stop();
  const SamplerStats st = sm.stats();
  EXPECT_EQ(st.negative_power_samples, (std::vector<std::size_t>{st.samples, 0}));
}

TEST(SamplerStats, CounterResetsAreCountedPerRail) {
  // 10 J steps, then a restart from 0 (no range), then a RAPL-like fake wrap handled below.
  auto s = std::make_shared<ScriptedCounter>(std::vector<double>{100, 110, 120, 0, 10, 20, 30}, 0.0, 0.0);
  SamplerOptions o;
  o.rate_hz = 1000;
  Sampler sm(s, o);
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.size() >= 20; }, 10.0));
  sm.stop();
  SamplerStats st = sm.stats();
  EXPECT_EQ(st.counter_resets, (std::vector<std::size_t>{1}));
  EXPECT_NE(st.last_counter_reset.find("rail pkg: 120 J -> 0 J"), std::string::npos) << st.last_counter_reset;
  // With a wrap range: 1000 J -> 0.5 J is not a wrap of 261 kJ.
  auto w = std::make_shared<ScriptedCounter>(std::vector<double>{999, 1000, 0.5, 1.5}, 262143.32885, 1500.0);
  Sampler sw(w, o);
  sw.start();
  ASSERT_TRUE(wait_until([&] { return sw.size() >= 10; }, 10.0));
  sw.stop();
  EXPECT_EQ(sw.stats().counter_resets, (std::vector<std::size_t>{1}));
}

TEST(SamplerStats, SensorOutOfDataEndsSamplingCleanly) {
  Sampler sm(std::make_shared<FiniteSensor>(25), {});
  sm.start();
  ASSERT_TRUE(wait_until([&] { return sm.finished(); }, 10.0));
  EXPECT_TRUE(wait_until([&] { return !sm.running(); }, 1.0));
  EXPECT_NO_THROW(sm.stop());
  const SamplerStats st = sm.stats();
  EXPECT_EQ(st.samples, 25u);
  EXPECT_EQ(st.read_errors, 0u);
  EXPECT_FALSE(st.failed);
  EXPECT_TRUE(st.finished);
  EXPECT_EQ(st.stop_reason, "sensor finished");
  EXPECT_NE(st.last_error.find("recording over after 25 readings"), std::string::npos);
}

namespace {
// A register that refreshes every period_ns on CLOCK_MONOTONIC: reads return the number of
// refreshes so far (a new value at every refresh), as a sensor whose chip keeps its own time.
class GridSensor : public Sensor {
 public:
  GridSensor(int64_t period_ns, double stated_s) : Sensor(make_info(stated_s)), period_ns_(period_ns), origin_(now_ns()) {}
  void read(double* p, double*) override { p[0] = static_cast<double>((now_ns() - origin_) / period_ns_); }

 private:
  static SensorInfo make_info(double stated_s) {
    SensorInfo i;
    i.kind = "grid";
    i.rails = {"total"};
    i.update_interval_s = stated_s;
    return i;
  }
  int64_t period_ns_, origin_;
};
}  // namespace

TEST(SamplerRefresh, LocksToTheRefreshAndItsStatsAreReadWhileSampling) {
  auto sensor = std::make_shared<GridSensor>(2'000'000, 2e-3);
  SamplerOptions o;
  o.refresh_lock = true;
  Sampler s(sensor, o);
  s.start();
  // stats() from this thread while the sampler publishes (also the TSan case).
  SamplerStats st;
  ASSERT_TRUE(wait_until([&] { st = s.stats(); return st.refresh_state == "locked"; }, 5.0)) << st.refresh_note;
  const std::size_t n0 = s.size();
  const int64_t t0 = now_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const std::size_t n1 = s.size();
  const double refreshes = (now_ns() - t0) / 2e6;
  st = s.stats();
  s.stop();
  EXPECT_EQ(st.mode, "refresh");
  EXPECT_EQ(st.refresh_state, "locked") << st.refresh_note;
  EXPECT_DOUBLE_EQ(st.refresh_guess_s, 2e-3);
  // Fitted over hundreds of changes each placed within a guard (20 us): well inside 0.1 %.
  EXPECT_NEAR(st.refresh_period_s, 2e-3, 2e-6);
  EXPECT_GT(st.refreshes, 200u);
  // Reads per refresh: an after-read, a guard read when it came too soon, a probe of a few reads
  // every 4th refresh, up to 5 guards (look window / guard) on a busy machine: at most 6 on
  // average, against 20 for 10 kHz polling.
  EXPECT_LE(static_cast<double>(n1 - n0) / refreshes, emulated() ? 20.0 : 6.0);
  EXPECT_TRUE(std::isfinite(st.refresh_within_50us_share));
}

TEST(SamplerRefresh, RefreshGuessIsChecked) {
  auto sensor = std::make_shared<GridSensor>(2'000'000, 2e-3);
  SamplerOptions o;
  o.refresh_lock = true;
  o.refresh_guess_s = -1;
  EXPECT_THROW(Sampler(sensor, o), std::invalid_argument);
}
