#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "core/clock.hpp"
#include "core/sensors/synthetic.hpp"

using namespace edgepower;

namespace {
constexpr int64_t kS = 1'000'000'000;
SyntheticOptions at_origin(int64_t origin, bool counter = false, double range = 0) {
  SyntheticOptions o;
  o.origin_ns = origin;
  o.counter = counter;
  o.counter_range_j = range;
  return o;
}
}  // namespace

TEST(Synthetic, SquareWaveProfileAndIntegral) {
  SquareSensor s(2.0, 8.0, 0.1, 0.25, at_origin(0));
  double p, e;
  s.power_at(10'000'000, &p);   // 10 ms: high (first 25 ms)
  EXPECT_EQ(p, 8.0);
  s.power_at(30'000'000, &p);   // 30 ms: low
  EXPECT_EQ(p, 2.0);
  s.energy_at(kS, &e);          // 10 periods of 8*0.025 + 2*0.075 = 0.35 J
  EXPECT_NEAR(e, 3.5, 1e-12);
  s.energy_at(kS + 10'000'000, &e);
  EXPECT_NEAR(e, 3.5 + 0.08, 1e-12);
}

TEST(Synthetic, PiecewiseLinearAndStep) {
  PiecewiseSensor lin({0, 1, 3}, {0, 10, 10}, false, at_origin(0));
  double p, e;
  lin.power_at(kS / 2, &p);
  EXPECT_DOUBLE_EQ(p, 5.0);
  lin.energy_at(3 * kS, &e);  // 5 (ramp) + 20
  EXPECT_NEAR(e, 25.0, 1e-12);
  lin.energy_at(4 * kS, &e);  // constant after the last point
  EXPECT_NEAR(e, 35.0, 1e-12);
  PiecewiseSensor step({0, 1}, {2, 6}, true, at_origin(0));
  step.power_at(kS / 2, &p);
  EXPECT_DOUBLE_EQ(p, 2.0);
  step.energy_at(2 * kS, &e);
  EXPECT_NEAR(e, 8.0, 1e-12);
  EXPECT_THROW(PiecewiseSensor({1, 0}, {1, 1}), std::invalid_argument);
}

TEST(Synthetic, CounterWrapsAtItsRange) {
  ConstantSensor s({10.0}, at_origin(now_ns() - 5 * kS, true, 32.0));
  double p, c;
  s.read(&p, &c);
  EXPECT_EQ(p, 10.0);
  EXPECT_GE(c, 50.0 - 32.0);  // 5 s x 10 W = 50 J, wrapped once
  EXPECT_LT(c, 32.0);
}

TEST(Synthetic, RegionSensorFollowsTheInnermostActiveRegion) {
  auto tl = std::make_shared<Timeline>();
  RegionSensor s(tl, {{"conv", 9.0}, {"fc", 4.0}}, 2.0, at_origin(0));
  const int32_t conv = tl->region("conv"), fc = tl->region("fc"), other = tl->region("other");
  tl->mark_at(1 * kS, conv, MarkKind::Begin);
  tl->mark_at(2 * kS, fc, MarkKind::Begin);    // nested: fc wins
  tl->mark_at(3 * kS, other, MarkKind::Begin); // no level: transparent
  tl->mark_at(4 * kS, other, MarkKind::End);
  tl->mark_at(5 * kS, fc, MarkKind::End);
  tl->mark_at(6 * kS, conv, MarkKind::End);
  double p, e;
  s.power_at(kS / 2, &p);
  EXPECT_EQ(p, 2.0);
  s.power_at(1500 * 1000000LL, &p);
  EXPECT_EQ(p, 9.0);
  s.power_at(3500 * 1000000LL, &p);
  EXPECT_EQ(p, 4.0);
  s.power_at(5500 * 1000000LL, &p);
  EXPECT_EQ(p, 9.0);
  s.power_at(7 * kS, &p);
  EXPECT_EQ(p, 2.0);
  s.energy_at(7 * kS, &e);  // 2*1 + 9*1 + 4*3 + 9*1 + 2*1
  EXPECT_NEAR(e, 34.0, 1e-9);
}

TEST(Synthetic, HoldAndNoise) {
  SyntheticOptions o = at_origin(now_ns());
  o.noise_w = 0.5;
  o.seed = 7;
  ConstantSensor s({5.0}, o);
  double sum = 0, sum2 = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    double p, c;
    s.read(&p, &c);
    sum += p;
    sum2 += p * p;
  }
  const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  EXPECT_NEAR(mean, 5.0, 0.02);
  EXPECT_NEAR(sd, 0.5, 0.02);
  SyntheticOptions bad;
  bad.refresh_s = -1;
  EXPECT_THROW(ConstantSensor({1.0}, bad), std::invalid_argument);
}
