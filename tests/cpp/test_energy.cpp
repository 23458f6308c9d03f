// Exact expected integrals for the energy code.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/energy.hpp"

using namespace edgepower;

namespace {
constexpr int64_t kS = 1'000'000'000;  // ns per second

std::vector<int64_t> times(std::initializer_list<double> seconds) {
  std::vector<int64_t> t;
  for (double s : seconds) t.push_back(static_cast<int64_t>(std::llround(s * kS)));
  return t;
}

EnergyResult integ(const std::vector<int64_t>& t, const std::vector<double>& p, double t0, double t1) {
  return integrate_power(t.data(), p.data(), t.size(), 1, std::llround(t0 * kS), std::llround(t1 * kS));
}
}  // namespace

TEST(Energy, ConstantPower) {
  auto t = times({0, 1, 2, 3, 4});
  std::vector<double> p(5, 5.0);
  auto r = integ(t, p, 0.5, 3.25);
  ASSERT_EQ(r.status, EnergyStatus::Ok);
  EXPECT_NEAR(r.energy_j, 5.0 * 2.75, 1e-12);
  EXPECT_NEAR(r.avg_power_w, 5.0, 1e-12);
  EXPECT_NEAR(r.duration_s, 2.75, 1e-12);
  EXPECT_EQ(r.num_samples, 3u);  // samples at 1, 2, 3
}

TEST(Energy, LinearRampIsExact) {
  // p(t) = 2 + 3t sampled at irregular times: the trapezoid of a linear function is exact.
  auto t = times({0, 0.13, 0.5, 0.51, 1.7, 2.0, 3.3});
  std::vector<double> p;
  for (int64_t x : t) p.push_back(2.0 + 3.0 * x / 1e9);
  auto r = integ(t, p, 0.2, 3.0);
  ASSERT_EQ(r.status, EnergyStatus::Ok);
  const double expected = (2.0 * 3.0 + 1.5 * 3.0 * 3.0) - (2.0 * 0.2 + 1.5 * 0.2 * 0.2);
  EXPECT_NEAR(r.energy_j, expected, 1e-9);
}

TEST(Energy, StepBetweenTwoSamplesIsLinearlyInterpolated) {
  // Power jumps from 1 W to 9 W somewhere between the samples at 1 s and 2 s: the samples only
  // say "1 at 1 s, 9 at 2 s", so the integral over [1, 2] is the trapezoid 5 J.
  auto t = times({0, 1, 2, 3});
  std::vector<double> p = {1, 1, 9, 9};
  EXPECT_NEAR(integ(t, p, 0, 3).energy_j, 1 + 5 + 9, 1e-12);
  EXPECT_NEAR(integ(t, p, 1, 2).energy_j, 5.0, 1e-12);
  // Half of that interval: p goes 1 -> 5 over [1, 1.5]: 1.5 J.
  EXPECT_NEAR(integ(t, p, 1, 1.5).energy_j, 1.5, 1e-12);
}

TEST(Energy, WindowEdgesExactlyOnSamples) {
  auto t = times({0, 1, 2, 3});
  std::vector<double> p = {2, 4, 6, 8};
  auto r = integ(t, p, 1, 3);
  ASSERT_EQ(r.status, EnergyStatus::Ok);
  EXPECT_DOUBLE_EQ(r.energy_j, 5.0 + 7.0);
  EXPECT_EQ(r.num_samples, 3u);
  // The whole recording, edges on the first and last samples.
  EXPECT_DOUBLE_EQ(integ(t, p, 0, 3).energy_j, 3.0 + 5.0 + 7.0);
}

TEST(Energy, WindowInsideOneSampleInterval) {
  auto t = times({0, 1});
  std::vector<double> p = {0, 10};
  auto r = integ(t, p, 0.25, 0.75);  // p: 2.5 -> 7.5 over 0.5 s
  ASSERT_EQ(r.status, EnergyStatus::Ok);
  EXPECT_NEAR(r.energy_j, 2.5, 1e-12);
  EXPECT_EQ(r.num_samples, 0u);
  EXPECT_NEAR(integ(t, p, 0.5, 0.5).energy_j, 0.0, 1e-15);  // empty window: 0 J, not NaN
}

TEST(Energy, UncoveredWindowsAreNaNWithAReason) {
  auto t = times({1, 2, 3});
  std::vector<double> p = {1, 1, 1};
  auto before = integ(t, p, 0.5, 2);
  EXPECT_TRUE(std::isnan(before.energy_j));
  EXPECT_EQ(before.status, EnergyStatus::BeforeFirstSample);
  EXPECT_NE(status_message(before.status).find("before the first sample"), std::string::npos);
  EXPECT_EQ(integ(t, p, 2, 3.5).status, EnergyStatus::AfterLastSample);
  EXPECT_EQ(integ(t, p, 2.5, 2).status, EnergyStatus::Reversed);
  std::vector<int64_t> none;
  std::vector<double> nonep;
  EXPECT_EQ(integrate_power(none.data(), nonep.data(), 0, 1, 0, 1).status, EnergyStatus::NoSamples);
  std::vector<double> bad = {1, NAN, 1};
  EXPECT_EQ(integ(t, bad, 1, 3).status, EnergyStatus::NotFinite);
}

TEST(Energy, StrideSelectsARail) {
  auto t = times({0, 1, 2});
  std::vector<double> p = {1, 10, 1, 10, 1, 10};  // two rails: 1 W and 10 W
  EXPECT_DOUBLE_EQ(integrate_power(t.data(), p.data(), 3, 2, 0, 2 * kS).energy_j, 2.0);
  EXPECT_DOUBLE_EQ(integrate_power(t.data(), p.data() + 1, 3, 2, 0, 2 * kS).energy_j, 20.0);
}

TEST(Energy, CounterDeltaWrapsOnce) {
  EXPECT_DOUBLE_EQ(counter_delta(10.0, 25.0, 100.0), 15.0);
  EXPECT_DOUBLE_EQ(counter_delta(95.0, 5.0, 100.0), 10.0);
  EXPECT_DOUBLE_EQ(counter_delta(95.0, 5.0, 0.0), -90.0);  // no range: no correction
}

TEST(Energy, WrappedCounterEnergy) {
  // 10 W for 10 s, counter wraps at 32 J: raw readings 0, 10, 20, 30, 8, 18, ...
  std::vector<int64_t> t;
  std::vector<double> c;
  for (int i = 0; i <= 10; ++i) {
    t.push_back(i * kS);
    c.push_back(std::fmod(10.0 * i, 32.0));
  }
  auto r = counter_energy(t.data(), c.data(), t.size(), 1, 32.0, 0, 10 * kS);
  ASSERT_EQ(r.status, EnergyStatus::Ok);
  EXPECT_NEAR(r.energy_j, 100.0, 1e-9);
  // Interpolated edges across a wrap: [2.5 s, 7.25 s] -> 47.5 J.
  EXPECT_NEAR(counter_energy(t.data(), c.data(), t.size(), 1, 32.0, 2500 * 1000000LL, 7250 * 1000000LL).energy_j,
              47.5, 1e-9);
  std::vector<double> cum(t.size());
  unwrap_counter(c.data(), c.size(), 1, 32.0, cum.data());
  EXPECT_DOUBLE_EQ(cum.back(), 100.0);
  EXPECT_EQ(counter_energy(t.data(), c.data(), t.size(), 1, 32.0, -1, kS).status, EnergyStatus::BeforeFirstSample);
}

TEST(Energy, AttributionMatchesSingleWindows) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  const std::size_t n = 20000;
  std::vector<int64_t> t(n);
  std::vector<double> p(n);
  int64_t now = 1000;
  for (std::size_t i = 0; i < n; ++i) {
    now += 50'000 + static_cast<int64_t>(u(rng) * 100'000);  // irregular 50-150 us
    t[i] = now;
    p[i] = 3.0 + 5.0 * u(rng);
  }
  const std::size_t w = 3000;
  std::vector<int64_t> a(w), b(w);
  for (std::size_t k = 0; k < w; ++k) {  // unsorted, overlapping, some on samples, some uncovered
    int64_t x = t[0] - 5'000'000 + static_cast<int64_t>(u(rng) * (t.back() - t[0] + 10'000'000));
    int64_t len = static_cast<int64_t>(u(rng) * 50'000'000);
    if (k % 7 == 0) x = t[k % n];
    if (k % 11 == 0) len = 0;
    a[k] = x;
    b[k] = x + len;
  }
  std::vector<double> e(w);
  std::vector<int64_t> cnt(w);
  std::vector<uint8_t> st(w);
  attribute_windows(t.data(), p.data(), n, 1, a.data(), b.data(), w, e.data(), cnt.data(), st.data());
  int ok = 0;
  for (std::size_t k = 0; k < w; ++k) {
    auto r = integrate_power(t.data(), p.data(), n, 1, a[k], b[k]);
    ASSERT_EQ(static_cast<int>(st[k]), static_cast<int>(r.status)) << "window " << k;
    ASSERT_EQ(cnt[k], static_cast<int64_t>(r.num_samples)) << "window " << k;
    if (r.status == EnergyStatus::Ok) {
      ++ok;
      ASSERT_NEAR(e[k], r.energy_j, 1e-9 * (1 + std::fabs(r.energy_j))) << "window " << k;
    } else {
      ASSERT_TRUE(std::isnan(e[k]));
    }
  }
  EXPECT_GT(ok, 2500);
}

TEST(Energy, AttributionIsolatesANaN) {
  auto t = times({0, 1, 2, 3, 4, 5});
  std::vector<double> p = {1, 1, NAN, 1, 1, 1};
  std::vector<int64_t> a = {0, 3 * kS, 1 * kS}, b = {1 * kS, 5 * kS, 3 * kS};
  std::vector<double> e(3);
  std::vector<int64_t> c(3);
  std::vector<uint8_t> s(3);
  attribute_windows(t.data(), p.data(), t.size(), 1, a.data(), b.data(), 3, e.data(), c.data(), s.data());
  EXPECT_DOUBLE_EQ(e[0], 1.0);
  EXPECT_DOUBLE_EQ(e[1], 2.0);
  EXPECT_EQ(s[2], static_cast<uint8_t>(EnergyStatus::NotFinite));
}

TEST(Stats, StudentTQuantiles) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0423, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.025, 9), -2.2622, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 1e6), 1.95996, 1e-4);
  EXPECT_THROW(student_t_quantile(1.0, 3), std::invalid_argument);
}

TEST(Stats, RepeatStatsAndNetEnergy) {
  std::vector<double> v = {10, 12, 11, 13, 9};
  auto s = repeat_stats(v.data(), v.size());
  EXPECT_DOUBLE_EQ(s.mean, 11.0);
  EXPECT_NEAR(s.stddev, std::sqrt(2.5), 1e-12);
  EXPECT_NEAR(s.ci95_half_width, 2.7764451 * std::sqrt(2.5) / std::sqrt(5.0), 1e-6);
  auto one = repeat_stats(v.data(), 1);
  EXPECT_DOUBLE_EQ(one.mean, 10.0);
  EXPECT_TRUE(std::isnan(one.ci95_half_width));
  EXPECT_DOUBLE_EQ(net_energy(10.0, 2.0, 3.0), 4.0);
}

TEST(Energy, AttributionRejectsTimestampsGoingBackwards) {
  std::vector<int64_t> t = {0, 2 * kS, 1 * kS, 3 * kS, 4 * kS};
  std::vector<double> p(5, 1.0);
  std::vector<int64_t> a = {0}, b = {4 * kS};
  double e;
  int64_t c;
  uint8_t s;
  attribute_windows(t.data(), p.data(), t.size(), 1, a.data(), b.data(), 1, &e, &c, &s);
  EXPECT_EQ(s, static_cast<uint8_t>(EnergyStatus::Unsorted));
  EXPECT_TRUE(std::isnan(e));
  EXPECT_EQ(integrate_power(t.data(), p.data(), t.size(), 1, 0, 4 * kS).status, EnergyStatus::Unsorted);
}

// ---- assign_samples_innermost: the in-situ sampling estimator ----
namespace {
struct Assigned {
  std::vector<int64_t> counts;
  std::vector<double> sums;
  std::vector<int64_t> owner;
};
Assigned assign(const std::vector<int64_t>& t, const std::vector<double>& p, const std::vector<int64_t>& w0,
                const std::vector<int64_t>& w1) {
  Assigned a{std::vector<int64_t>(w0.size()), std::vector<double>(w0.size()), std::vector<int64_t>(t.size())};
  assign_samples_innermost(t.data(), p.data(), t.size(), 1, w0.data(), w1.data(), w0.size(), a.counts.data(),
                           a.sums.data(), a.owner.data());
  return a;
}
}  // namespace

TEST(AssignSamples, InnermostWindowHalfOpenEdges) {
  // Model window [0, 100) holding layers [10, 20) and [20, 30); samples every 5 ns.
  std::vector<int64_t> t;
  std::vector<double> p;
  for (int64_t x = 0; x <= 100; x += 5) {
    t.push_back(x);
    p.push_back(static_cast<double>(x));
  }
  // Windows in any order: layer B, model, layer A.
  const auto a = assign(t, p, {20, 0, 10}, {30, 100, 20});
  // Layer A holds 10 and 15 (20 belongs to B, which starts there); B holds 20 and 25.
  EXPECT_EQ(a.counts[2], 2);
  EXPECT_DOUBLE_EQ(a.sums[2], 25.0);
  EXPECT_EQ(a.counts[0], 2);
  EXPECT_DOUBLE_EQ(a.sums[0], 45.0);
  // The model gets the rest of [0, 100): 0, 5, 30..95 (14 samples); 100 is outside (half-open).
  EXPECT_EQ(a.counts[1], 16);
  EXPECT_EQ(a.owner[0], 1);
  EXPECT_EQ(a.owner[2], 2);
  EXPECT_EQ(a.owner[4], 0);
  EXPECT_EQ(a.owner[20], -1);
  int64_t total = 0;
  for (auto c : a.counts) total += c;
  EXPECT_EQ(total, 20);
}

TEST(AssignSamples, SameBeginLaterIndexIsInnermostAndZeroLengthHoldsNothing) {
  const std::vector<int64_t> t{0, 10, 20};
  const std::vector<double> p{1, 2, 3};
  const auto a = assign(t, p, {0, 0, 10}, {30, 15, 10});
  EXPECT_EQ(a.owner[0], 1);  // window 1 begins with window 0 but has the later index
  EXPECT_EQ(a.owner[1], 1);
  EXPECT_EQ(a.owner[2], 0);  // window 1 ended at 15; window 2 has zero length
  EXPECT_EQ(a.counts[2], 0);
  EXPECT_DOUBLE_EQ(a.sums[0], 3.0);
}

TEST(AssignSamples, NonFiniteSamplesAndUnsortedInput) {
  const std::vector<int64_t> t{0, 1, 2};
  const std::vector<double> p{1, std::nan(""), 3};
  const auto a = assign(t, p, {0}, {10});
  EXPECT_EQ(a.counts[0], 2);
  EXPECT_DOUBLE_EQ(a.sums[0], 4.0);
  EXPECT_EQ(a.owner[1], -1);
  EXPECT_THROW(assign({0, 5, 3}, {1, 1, 1}, {0}, {10}), std::invalid_argument);
}

TEST(AssignSamples, MatchesBruteForceOnRandomNestedWindows) {
  std::mt19937_64 rng(7);
  std::vector<int64_t> t(2000);
  std::vector<double> p(2000);
  for (std::size_t i = 0; i < t.size(); ++i) {
    t[i] = static_cast<int64_t>(i) * 7 + static_cast<int64_t>(rng() % 5);
    p[i] = static_cast<double>(rng() % 1000) / 10.0;
  }
  std::vector<int64_t> w0, w1;
  for (int64_t c = 0; c < 100; ++c) {  // 100 cycles of 140 ns: a model window and 3 layers inside
    const int64_t base = c * 140;
    w0.push_back(base);
    w1.push_back(base + 130);
    for (int64_t l = 0; l < 3; ++l) {
      w0.push_back(base + 5 + l * 40 + static_cast<int64_t>(rng() % 5));
      w1.push_back(base + 5 + l * 40 + 30 + static_cast<int64_t>(rng() % 5));
    }
  }
  const auto a = assign(t, p, w0, w1);
  for (std::size_t i = 0; i < t.size(); ++i) {
    int64_t best = -1;
    for (std::size_t w = 0; w < w0.size(); ++w) {
      if (w0[w] <= t[i] && t[i] < w1[w] &&
          (best < 0 || w0[w] > w0[static_cast<std::size_t>(best)] ||
           (w0[w] == w0[static_cast<std::size_t>(best)] && static_cast<int64_t>(w) > best))) {
        best = static_cast<int64_t>(w);
      }
    }
    ASSERT_EQ(a.owner[i], best) << "sample " << i;
  }
}

// ---- counter resets (issue 14): never integrated across ----------------------------------

namespace {
// Readings every 10 ms of a counter under a true 10 W that starts at c0_j and, at reading
// `reset_at`, restarts from reset_to_j (then rises at 10 W again).
struct CounterTrace {
  std::vector<int64_t> t;
  std::vector<double> c;
};
CounterTrace ten_watts(double c0_j, int n, int reset_at = -1, double reset_to_j = 0.0) {
  CounterTrace tr;
  double c = c0_j;
  for (int i = 0; i < n; ++i) {
    if (i == reset_at) c = reset_to_j;
    else if (i > 0) c += 0.1;  // 10 W x 10 ms
    tr.t.push_back(i * 10'000'000LL);
    tr.c.push_back(c);
  }
  return tr;
}
EnergyResult counter_window(const CounterTrace& tr, double range, double t0_s, double t1_s, double max_power = 0.0,
                            double update_s = 0.0) {
  return counter_energy(tr.t.data(), tr.c.data(), tr.t.size(), 1, range, std::llround(t0_s * kS),
                        std::llround(t1_s * kS), max_power, update_s);
}
}  // namespace

TEST(CounterReset, ClassifiesDropsWrapsAndImpossibleSteps) {
  EXPECT_EQ(classify_counter_step(10.0, 12.0, 1.0, 0.0, 0.0), CounterStep::Ok);
  EXPECT_EQ(classify_counter_step(10.0, 10.0, 1.0, 0.0, 100.0), CounterStep::Ok);
  EXPECT_EQ(classify_counter_step(1000.0, 0.0, 0.01, 0.0, 0.0), CounterStep::Reset);      // no range: a drop is a reset
  EXPECT_EQ(classify_counter_step(95.0, 5.0, 1.0, 100.0, 0.0), CounterStep::Wrap);        // 10 J through the top
  EXPECT_EQ(classify_counter_step(1000.0, 0.0, 0.8, 262143.32885, 0.0), CounterStep::Reset);  // 261 kJ "wrap"
  EXPECT_EQ(classify_counter_step(262143.0, 0.5, 0.01, 262143.32885, 1500.0), CounterStep::Wrap);  // 0.83 J in 10 ms
  EXPECT_EQ(classify_counter_step(262143.0, 0.5, 0.0001, 262143.32885, 1500.0), CounterStep::Reset);  // 8.3 kW
  EXPECT_EQ(classify_counter_step(10.0, 5010.0, 0.01, 0.0, 1500.0), CounterStep::Reset);  // +5 kJ in 10 ms
  EXPECT_EQ(classify_counter_step(10.0, 5010.0, 0.01, 0.0, 0.0), CounterStep::Ok);        // no bound known
  EXPECT_EQ(classify_counter_step(120.0, 5.0, 1.0, 100.0, 0.0), CounterStep::Reset);      // above the range: garbage
  EXPECT_EQ(classify_counter_step(std::nan(""), 5.0, 1.0, 0.0, 0.0), CounterStep::Ok);     // NaN is not a reset
}

TEST(CounterReset, HwmonResetUnderTenWattsIsNaNWithTheReasonNotMinus1996J) {
  // hwmon energy: 1000 J, rising at 10 W, restarts from 0 at reading 100 (t = 1 s).
  const CounterTrace tr = ten_watts(1000.0, 200, 100, 0.0);
  const EnergyResult r = counter_window(tr, 0.0, 0.5, 1.5);
  EXPECT_EQ(r.status, EnergyStatus::CounterReset);
  EXPECT_TRUE(std::isnan(r.energy_j));
  EXPECT_NE(status_message(r.status).find("counter reset"), std::string::npos);
  EXPECT_EQ(r.counter_resets, 1u);
  // Split at the reset: [0.5, 0.99] and [1.0, 1.5] are covered at 10 W, the 10 ms between the
  // readings around the reset are not.
  EXPECT_NEAR(r.partial_energy_j, 10.0 * (0.49 + 0.5), 1e-9);
  EXPECT_NEAR(r.gap_s, 0.01, 1e-12);
  // Windows wholly on one side are measured normally.
  EXPECT_NEAR(counter_window(tr, 0.0, 0.2, 0.99).energy_j, 7.9, 1e-9);
  EXPECT_NEAR(counter_window(tr, 0.0, 1.0, 1.9).energy_j, 9.0, 1e-9);
}

TEST(CounterReset, RaplResetIsNotTakenAsAWrap) {
  // RAPL energy_uj wraps at 262143.32885 J; a reset from 1000 J to 0 looked like a wrap and gave
  // +261,143 J (megawatts). It is a reset, with or without the power bound.
  const double range = 262143.32885;
  const CounterTrace tr = ten_watts(1000.0, 200, 100, 0.0);
  for (double bound : {0.0, 1500.0}) {
    const EnergyResult r = counter_window(tr, range, 0.5, 1.5, bound, 1e-3);
    EXPECT_EQ(r.status, EnergyStatus::CounterReset) << bound;
    EXPECT_TRUE(std::isnan(r.energy_j));
  }
  // A real wrap near the top is still corrected: 262143.0 J + 10 W.
  const CounterTrace wrap = ten_watts(262143.0, 20);
  CounterTrace wrapped = wrap;
  for (double& c : wrapped.c) c = std::fmod(c, range);
  const EnergyResult ok = counter_window(wrapped, range, 0.0, 0.19, 1500.0, 1e-3);
  ASSERT_EQ(ok.status, EnergyStatus::Ok);
  EXPECT_NEAR(ok.energy_j, 1.9, 1e-9);
}

TEST(CounterReset, StepBeyondThePowerBoundIsAReset) {
  CounterTrace tr = ten_watts(10.0, 100);
  for (std::size_t i = 50; i < tr.c.size(); ++i) tr.c[i] += 5000.0;  // +5 kJ between two 10 ms readings
  EXPECT_EQ(counter_window(tr, 0.0, 0.1, 0.9, 1500.0).status, EnergyStatus::CounterReset);
  // Without a bound the jump is energy (what a sensor of unknown kind gets).
  EXPECT_NEAR(counter_window(tr, 0.0, 0.1, 0.9).energy_j, 8.0 + 5000.0, 1e-6);
}

TEST(CounterReset, SlowSteppingCounterIsNoFalseReset) {
  // NVML-like: 300 W, the counter steps every 100 ms (30 J), read every 1 ms. One 1 ms reading
  // interval holds 100 ms of energy (30 kW over 1 ms): the bound must use the time since the
  // counter last changed, and not judge the first step whose history it does not know.
  std::vector<int64_t> t;
  std::vector<double> c;
  for (int i = 0; i <= 1000; ++i) {
    t.push_back(i * 1'000'000LL + 300'000);  // readings out of phase with the steps
    c.push_back(1e6 + 30.0 * std::floor((i * 1e-3 + 0.0003) / 0.1));
  }
  for (int64_t t0_ms : {0, 50, 99, 101, 333}) {
    const EnergyResult r = counter_energy(t.data(), c.data(), t.size(), 1, 0.0, t0_ms * 1'000'000LL + 300'000,
                                          t0_ms * 1'000'000LL + 600'300'000, 3000.0, 0.0);
    EXPECT_EQ(r.status, EnergyStatus::Ok) << t0_ms;
  }
}
