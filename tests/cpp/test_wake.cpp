// PreciseWake (csrc/core/wake.hpp): the two-stage sleep of refresh-locked sampling. What is
// asserted holds on any machine, however loaded: it never wakes before its deadline, it stops
// when asked, and the stages it plans follow the lateness it observed (deterministic).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <numeric>
#include <random>
#include <vector>

#include "core/clock.hpp"
#include "core/wake.hpp"

namespace edgepower {
namespace {

TEST(QuantileTrack, SettlesAtTheQuantileOfARepeatingStream) {
  // Values 0, 1, ..., 99 us, each block of 100 in a shuffled order (fixed seed), over and over:
  // the 95th percentile is 95 us, the 25th 25 us. A fixed step of 1 us leaves the estimate
  // within a few steps of it.
  QuantileTrack p95(0.95, 0.0, 1000.0), p25(0.25, 50'000.0, 1000.0);
  std::vector<int> block(100);
  std::iota(block.begin(), block.end(), 0);
  std::mt19937 rng(7);
  for (int rep = 0; rep < 400; ++rep) {
    std::shuffle(block.begin(), block.end(), rng);
    for (int v : block) {
      p95.add(v * 1000.0);
      p25.add(v * 1000.0);
    }
  }
  EXPECT_NEAR(p95.value(), 95'000.0, 3'000.0);
  EXPECT_NEAR(p25.value(), 25'000.0, 3'000.0);
}

TEST(PreciseWake, LeadFollowsTheObservedLatenessWithinItsBounds) {
  PreciseWake w;
  for (int i = 0; i < 5000; ++i) w.observe_long(80'000);  // every long sleep 80 us late
  EXPECT_NEAR(static_cast<double>(w.lead_ns()), 80'000.0 + PreciseWake::kLeadMarginNs, 2'000.0);
  for (int i = 0; i < 100000; ++i) w.observe_long(2'000'000);  // a machine that wakes 2 ms late
  EXPECT_EQ(w.lead_ns(), PreciseWake::kMaxLeadNs);
  for (int i = 0; i < 2'000'000; ++i) w.observe_long(0);
  EXPECT_EQ(w.lead_ns(), PreciseWake::kMinLeadNs);
  for (int i = 0; i < 5000; ++i) w.observe_short(12'000);
  EXPECT_NEAR(static_cast<double>(w.short_ns()), 12'000.0, 1'000.0);
  for (int i = 0; i < 100000; ++i) w.observe_short(-5'000);  // cannot aim after the deadline
  EXPECT_EQ(w.short_ns(), 0);
}

TEST(PreciseWake, NeverWakesBeforeItsDeadline) {
  PreciseWake w;
  std::atomic<bool> stop{false};
  int64_t spun = 0;
  for (int i = 0; i < 200; ++i) {
    const int64_t t = now_ns() + 300'000 + (i % 7) * 100'000;  // 0.3-0.9 ms ahead
    const int64_t woke = w.sleep_until(t, stop, 20'000'000, &spun);
    ASSERT_GE(woke, t) << "iteration " << i;
    ASSERT_GE(now_ns(), t);
  }
  EXPECT_GE(spun, 0);
  // A deadline already passed returns at once, without sleeping.
  const int64_t past = now_ns() - 1'000'000;
  EXPECT_GE(w.sleep_until(past, stop, 20'000'000), past);
}

TEST(PreciseWake, ReturnsEarlyWhenStopped) {
  PreciseWake w;
  std::atomic<bool> stop{true};
  const int64_t t = now_ns() + 10'000'000'000LL;  // 10 s ahead; slices of 1 ms
  EXPECT_LT(w.sleep_until(t, stop, 1'000'000), t);
}

}  // namespace
}  // namespace edgepower
