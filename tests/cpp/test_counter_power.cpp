// Power derived from energy counters (csrc/core/sensors/counter_power.hpp) with explicit
// timestamps: exact numbers for steps, holds, per-rail change points and wraps.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/sensors/counter_power.hpp"

using namespace edgepower;

namespace {
constexpr int64_t kMs = 1000000;  // ns
}  // namespace

TEST(CounterPower, PowerIsTheStepOverTheTimeBetweenChanges) {
  CounterPower cp;
  EXPECT_FALSE(cp.primed());
  double c = 10.0, p = 0;
  cp.prime(&c, 1, 0.0, 0);
  EXPECT_TRUE(cp.primed());
  cp.update(&c, 1 * kMs, &p);  // unchanged since prime: no power yet
  EXPECT_TRUE(std::isnan(p));
  c = 10.5;
  cp.update(&c, 250 * kMs, &p);  // 0.5 J over 250 ms since the prime reading
  EXPECT_DOUBLE_EQ(p, 2.0);
  cp.update(&c, 260 * kMs, &p);  // unchanged: held, not 0
  EXPECT_DOUBLE_EQ(p, 2.0);
  cp.update(&c, 400 * kMs, &p);
  EXPECT_DOUBLE_EQ(p, 2.0);
  c = 11.5;
  cp.update(&c, 750 * kMs, &p);  // 1 J over 500 ms since the last change (250 ms), not since 400 ms
  EXPECT_DOUBLE_EQ(p, 2.0 * 1.0);
  c = 14.5;
  cp.update(&c, 1000 * kMs, &p);  // 3 J over 250 ms
  EXPECT_DOUBLE_EQ(p, 12.0);
}

TEST(CounterPower, RailsHaveTheirOwnChangePoints) {
  CounterPower cp;
  std::vector<double> c = {100.0, 5.0}, p(2);
  cp.prime(c.data(), 2, 0.0, 0);
  // Counter values that are exact in binary, so the expected watts are exact too.
  c = {100.125, 5.0};
  cp.update(c.data(), 125 * kMs, p.data());
  EXPECT_DOUBLE_EQ(p[0], 1.0);  // 0.125 J / 0.125 s
  EXPECT_TRUE(std::isnan(p[1]));
  c = {100.125, 5.5};
  cp.update(c.data(), 250 * kMs, p.data());
  EXPECT_DOUBLE_EQ(p[0], 1.0);  // held
  EXPECT_DOUBLE_EQ(p[1], 2.0);  // 0.5 J over 0.25 s since prime
}

TEST(CounterPower, WrapIsCorrectedWithTheRange) {
  // RAPL-like: wraps at 262143.32885 J (max_energy_range_uj 262143328850).
  const double range = 262143.32885;
  CounterPower cp;
  double c = 262143.0, p = 0;
  cp.prime(&c, 1, range, 0);
  c = 0.17115;  // 0.32885 J to the wrap, then 0.17115 J: 0.5 J in total
  cp.update(&c, 100 * kMs, &p);
  EXPECT_NEAR(p, 5.0, 1e-9);  // 0.5 J / 0.1 s; 1e-9 W: the counter's double rounding at 2.6e5 J
  c = 1.17115;
  cp.update(&c, 300 * kMs, &p);
  EXPECT_NEAR(p, 5.0, 1e-9);  // 1 J / 0.2 s
}

TEST(CounterPower, WithoutARangeADropIsNotAWrap) {
  // range 0: the caller unwraps; a drop gives negative power rather than a made-up wrap.
  CounterPower cp;
  double c = 10.0, p = 0;
  cp.prime(&c, 1, 0.0, 0);
  c = 9.0;
  cp.update(&c, 500 * kMs, &p);
  EXPECT_DOUBLE_EQ(p, -2.0);
}

TEST(CounterPower, ChangeAtTheSameTimestampIsDeferred) {
  CounterPower cp;
  double c = 1.0, p = 0;
  cp.prime(&c, 1, 0.0, 100 * kMs);
  c = 2.0;
  cp.update(&c, 100 * kMs, &p);  // no time has passed: no division by zero, no power yet
  EXPECT_TRUE(std::isnan(p));
  cp.update(&c, 600 * kMs, &p);  // the change is taken at the next later reading
  EXPECT_DOUBLE_EQ(p, 2.0);
}

TEST(CounterPower, PrimeAgainRestarts) {
  CounterPower cp;
  double c = 1.0, p = 0;
  cp.prime(&c, 1, 0.0, 0);
  c = 2.0;
  cp.update(&c, 1000 * kMs, &p);
  EXPECT_DOUBLE_EQ(p, 1.0);
  c = 50.0;
  cp.prime(&c, 1, 0.0, 2000 * kMs);
  cp.update(&c, 2100 * kMs, &p);
  EXPECT_TRUE(std::isnan(p));
  c = 51.0;
  cp.update(&c, 2500 * kMs, &p);
  EXPECT_DOUBLE_EQ(p, 2.0);
}
