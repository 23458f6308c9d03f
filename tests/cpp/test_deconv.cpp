// The deconvolution solver (csrc/core/deconv.hpp) on analytic cases: readings computed by an
// independent reference (direct integration of piecewise-constant power, the running-average
// filter stepped conversion by conversion), known powers recovered, rank deficiency flagged,
// the non-negativity bound active where the data ask for a negative power.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "core/deconv.hpp"

namespace edgepower {
namespace {

struct Scene {
  DeconvMarks marks;
  std::vector<double> power;  // per region, then idle
  // Mean true power over [a, b) (a == b: the power at a), by direct integration.
  double mean(int64_t a, int64_t b) const {
    const int32_t idle = marks.n_regions;
    if (b <= a) {
      for (std::size_t i = 0; i < marks.t0.size(); ++i) {
        if (marks.t0[i] <= a && a < marks.t1[i]) return power[marks.region[i]];
      }
      return power[idle];
    }
    double e = 0, covered = 0;
    for (std::size_t i = 0; i < marks.t0.size(); ++i) {
      const double ov = static_cast<double>(std::min(b, marks.t1[i]) - std::max(a, marks.t0[i]));
      if (ov > 0) {
        e += ov * power[marks.region[i]];
        covered += ov;
      }
    }
    return (e + (static_cast<double>(b - a) - covered) * power[idle]) / static_cast<double>(b - a);
  }
};

// Forwards of `n_regions` layers in order, with random layer lengths (0.1-1 ms) and random gaps
// (0-0.5 ms) between layers and between forwards: what in-situ mode records.
Scene forwards(int n_regions, int64_t span_ns, uint64_t seed, std::vector<double> power) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> len(100'000, 1'000'000), gap(0, 500'000);
  Scene s;
  s.marks.n_regions = n_regions;
  s.power = std::move(power);
  int64_t t = 50'000'000;
  while (t < span_ns) {
    for (int r = 0; r < n_regions; ++r) {
      t += gap(rng);
      const int64_t d = len(rng);
      s.marks.t0.push_back(t);
      s.marks.t1.push_back(t + d);
      s.marks.region.push_back(r);
      t += d;
    }
    t += gap(rng);
  }
  return s;
}

std::vector<int64_t> refreshes(int64_t first, int64_t period, int64_t end) {
  std::vector<int64_t> t;
  for (int64_t x = first; x < end; x += period) t.push_back(x);
  return t;
}

void expect_recovers(const DeconvResult& r, const std::vector<double>& p, double tol) {
  ASSERT_EQ(r.power.size(), static_cast<Eigen::Index>(p.size()));
  for (std::size_t j = 0; j < p.size(); ++j) {
    EXPECT_TRUE(r.identifiable[j]) << "column " << j;
    EXPECT_NEAR(r.power[static_cast<Eigen::Index>(j)], p[j], tol) << "column " << j;
  }
}

TEST(Deconv, BoxcarConversionRecoversPowersExactly) {
  // INA3221 N = 1: each reading is the mean over the 1.1 ms conversion ending at the refresh
  // (6.6 ms apart, 3 channels). Layers of 0.1-1 ms are far shorter than a refresh.
  Scene s = forwards(4, 2'000'000'000, 1, {12.0, 6.0, 5.0, 9.0, 3.0});
  const int64_t conv = 1'100'000, period = 6'600'000;
  auto t = refreshes(60'000'123, period, 1'990'000'000);
  Eigen::VectorXd y(static_cast<Eigen::Index>(t.size()));
  for (std::size_t k = 0; k < t.size(); ++k) y[static_cast<Eigen::Index>(k)] = s.mean(t[k] - conv, t[k]);
  SensorKernel kern{conv, period, 1, SensorKernel::Filter::Exponential};
  DesignMatrix a = build_design(t, kern, s.marks);
  EXPECT_EQ(a.cols(), 5);
  EXPECT_LE(a.nonZeros(), a.rows() * 5);
  DeconvResult r = solve_deconvolution(a, y, Eigen::VectorXd());
  expect_recovers(r, s.power, 1e-9);
  EXPECT_TRUE(std::isfinite(r.condition));
  EXPECT_LT(r.residual_rms, 1e-6);
}

TEST(Deconv, ExponentialRunningAverageRecoversPowersExactly) {
  // N = 4: the register follows acc += (x - acc) / N once per conversion, from a steady idle
  // state; the reference steps the filter over every conversion, sampled or not (one reading
  // in three kept: the builder must step the unsampled conversions itself).
  Scene s = forwards(3, 1'500'000'000, 2, {10.0, 4.5, 7.0, 2.0});
  const int64_t conv = 1'100'000, period = 2'200'000;
  const int n = 4;
  auto grid = refreshes(1'000'000, period, 1'490'000'000);
  std::vector<int64_t> t;
  std::vector<double> yv;
  double acc = s.power.back();
  for (std::size_t k = 0; k < grid.size(); ++k) {
    acc += (s.mean(grid[k] - conv, grid[k]) - acc) / n;
    if (k % 3 == 0 && grid[k] > 20'000'000) {
      t.push_back(grid[k]);
      yv.push_back(acc);
    }
  }
  Eigen::VectorXd y = Eigen::Map<Eigen::VectorXd>(yv.data(), static_cast<Eigen::Index>(yv.size()));
  DesignMatrix a = build_design(t, {conv, period, n, SensorKernel::Filter::Exponential}, s.marks);
  DeconvResult r = solve_deconvolution(a, y, Eigen::VectorXd());
  expect_recovers(r, s.power, 1e-9);
}

TEST(Deconv, SlidingMeanAndInstantKernelsRecoverPowers) {
  Scene s = forwards(3, 1'000'000'000, 3, {8.0, 11.0, 5.5, 3.0});
  const int64_t conv = 500'000, period = 1'000'000;
  auto t = refreshes(40'000'000, 3 * period + 77, 990'000'000);
  Eigen::VectorXd y(static_cast<Eigen::Index>(t.size())), yi(static_cast<Eigen::Index>(t.size()));
  for (std::size_t k = 0; k < t.size(); ++k) {
    double m = 0;
    for (int j = 0; j < 8; ++j) m += s.mean(t[k] - j * period - conv, t[k] - j * period) / 8;
    y[static_cast<Eigen::Index>(k)] = m;
    yi[static_cast<Eigen::Index>(k)] = s.mean(t[k], t[k]);
  }
  DeconvResult r = solve_deconvolution(
      build_design(t, {conv, period, 8, SensorKernel::Filter::SlidingMean}, s.marks), y, Eigen::VectorXd());
  expect_recovers(r, s.power, 1e-9);
  DeconvResult ri = solve_deconvolution(build_design(t, {0, 0, 1, SensorKernel::Filter::Exponential}, s.marks), yi,
                                        Eigen::VectorXd());
  expect_recovers(ri, s.power, 1e-9);
}

TEST(Deconv, RegionsAlwaysSeenInTheSameProportionAreFlagged) {
  // Regions 0 and 1 always run back to back (0.3 + 0.2 ms) exactly inside one conversion
  // window: every reading sees them in the ratio 3:2, so only their sum is known. Region 2
  // runs at random places: it and idle stay identifiable.
  const int64_t conv = 1'000'000, period = 4'000'000;
  Scene s;
  s.marks.n_regions = 3;
  s.power = {9.0, 6.0, 12.0, 3.0};
  std::mt19937_64 rng(4);
  std::uniform_int_distribution<int64_t> pos(0, 2'500'000), len(100'000, 1'000'000);
  std::vector<int64_t> t;
  for (int k = 0; k < 400; ++k) {
    const int64_t r = 10'000'000 + k * period;  // refresh; window [r - conv, r)
    s.marks.t0.push_back(r - conv);
    s.marks.t1.push_back(r - conv + 300'000);
    s.marks.region.push_back(0);
    s.marks.t0.push_back(r - conv + 300'000);
    s.marks.t1.push_back(r - conv + 500'000);
    s.marks.region.push_back(1);
    const int64_t a = r + 50'000 + pos(rng) / 2, d = len(rng);  // region 2 after the window...
    s.marks.t0.push_back(a);
    s.marks.t1.push_back(a + d);
    s.marks.region.push_back(2);
    t.push_back(r);
    t.push_back(a + d / 2 + 500'000);  // ...and a reading whose window overlaps it partly
  }
  Eigen::VectorXd y(static_cast<Eigen::Index>(t.size()));
  for (std::size_t k = 0; k < t.size(); ++k) y[static_cast<Eigen::Index>(k)] = s.mean(t[k] - conv, t[k]);
  DeconvResult r = solve_deconvolution(build_design(t, {conv, period, 1, SensorKernel::Filter::Exponential}, s.marks),
                                       y, Eigen::VectorXd());
  EXPECT_FALSE(r.identifiable[0]);
  EXPECT_FALSE(r.identifiable[1]);
  EXPECT_TRUE(std::isnan(r.power[0]));
  EXPECT_TRUE(std::isnan(r.power[1]));
  EXPECT_TRUE(std::isinf(r.condition));
  EXPECT_TRUE(r.identifiable[2]);
  EXPECT_TRUE(r.identifiable[3]);
  EXPECT_NEAR(r.power[2], 12.0, 1e-9);
  EXPECT_NEAR(r.power[3], 3.0, 1e-9);
}

TEST(Deconv, NonNegativityBoundIsActiveWhereTheDataAskForNegativePower) {
  // Readings made with region 1 at -4 W (a sensor offset, say): the unconstrained solution is
  // negative there; the NNLS one is 0 with the KKT conditions: zero gradient on the free
  // columns, gradient <= 0 on the bound one.
  Scene s = forwards(3, 1'000'000'000, 5, {10.0, -4.0, 7.0, 3.0});
  const int64_t conv = 1'100'000;
  auto t = refreshes(55'000'000, 3'300'000, 990'000'000);
  Eigen::VectorXd y(static_cast<Eigen::Index>(t.size()));
  for (std::size_t k = 0; k < t.size(); ++k) y[static_cast<Eigen::Index>(k)] = s.mean(t[k] - conv, t[k]);
  DesignMatrix a = build_design(t, {conv, 3'300'000, 1, SensorKernel::Filter::Exponential}, s.marks);
  Eigen::MatrixXd ad(a);
  Eigen::VectorXd ls = ad.colPivHouseholderQr().solve(y);
  ASSERT_NEAR(ls[1], -4.0, 1e-9);  // unconstrained: the negative power is in the data
  DeconvResult r = solve_deconvolution(a, y, Eigen::VectorXd());
  EXPECT_TRUE(r.at_zero[1]);
  EXPECT_EQ(r.power[1], 0.0);
  for (int j : {0, 2, 3}) EXPECT_FALSE(r.at_zero[static_cast<std::size_t>(j)]) << j;
  Eigen::VectorXd grad = ad.transpose() * (y - ad * r.power);
  const double scale = ad.transpose().cwiseAbs().rowwise().sum().maxCoeff() * y.cwiseAbs().maxCoeff();
  for (int j : {0, 2, 3}) EXPECT_NEAR(grad[j], 0.0, 1e-9 * scale) << j;
  EXPECT_LT(grad[1], 0.0);
  EXPECT_GT(r.residual_rms, 0.0);
}

TEST(Deconv, WeightsSelectReadings) {
  // Zero weight drops a reading: solving with every other reading weighted 0 equals solving
  // the odd readings alone; weight 2 equals the reading given twice.
  Scene s = forwards(2, 600'000'000, 6, {9.0, 5.0, 3.0});
  auto t = refreshes(55'000'000, 2'000'000, 590'000'000);
  Eigen::VectorXd y(static_cast<Eigen::Index>(t.size()));
  std::mt19937_64 rng(6);
  std::normal_distribution<double> noise(0, 0.2);
  for (std::size_t k = 0; k < t.size(); ++k) y[static_cast<Eigen::Index>(k)] = s.mean(t[k] - 1'000'000, t[k]) + noise(rng);
  SensorKernel kern{1'000'000, 2'000'000, 1, SensorKernel::Filter::Exponential};
  DesignMatrix a = build_design(t, kern, s.marks);
  Eigen::VectorXd w(y.size());
  std::vector<int64_t> t_odd;
  std::vector<double> y_odd;
  for (Eigen::Index k = 0; k < y.size(); ++k) {
    w[k] = k % 2;
    if (k % 2) {
      t_odd.push_back(t[static_cast<std::size_t>(k)]);
      y_odd.push_back(y[k]);
    }
  }
  DeconvResult rw = solve_deconvolution(a, y, w);
  DeconvResult ro = solve_deconvolution(build_design(t_odd, kern, s.marks),
                                        Eigen::Map<Eigen::VectorXd>(y_odd.data(), static_cast<Eigen::Index>(y_odd.size())),
                                        Eigen::VectorXd());
  for (Eigen::Index j = 0; j < 3; ++j) EXPECT_NEAR(rw.power[j], ro.power[j], 1e-9);
  EXPECT_NEAR(rw.residual_rms, ro.residual_rms, 1e-9);
  // The residual of every reading, weighted 0 or not, is y - A p of the fitted powers; the RMS
  // is over the weighted ones only.
  ASSERT_EQ(rw.residual.size(), y.size());
  Eigen::VectorXd fit = a * rw.power;
  double rss = 0;
  for (Eigen::Index k = 0; k < y.size(); ++k) {
    EXPECT_NEAR(rw.residual[k], y[k] - fit[k], 1e-12);
    if (k % 2) rss += rw.residual[k] * rw.residual[k];
    if (k % 2) EXPECT_NEAR(rw.residual[k], ro.residual[(k - 1) / 2], 1e-9);
  }
  EXPECT_NEAR(std::sqrt(rss / static_cast<double>(t_odd.size())), rw.residual_rms, 1e-12);
}

TEST(Deconv, BadInputsNameTheArgument) {
  DeconvMarks m;
  m.n_regions = 1;
  m.t0 = {0, 50};
  m.t1 = {100, 150};
  m.region = {0, 0};
  SensorKernel k{10, 20, 1, SensorKernel::Filter::Exponential};
  auto msg = [](auto fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  EXPECT_NE(msg([&] { build_design({200}, k, m); }).find("inside the previous mark"), std::string::npos);
  m.t0 = {0, 100};
  m.t1 = {100, 150};
  EXPECT_NE(msg([&] { build_design({200, 200}, k, m); }).find("refresh_ns must be strictly ascending"),
            std::string::npos);
  m.region = {0, 1};
  EXPECT_NE(msg([&] { build_design({200}, k, m); }).find("outside [0, n_regions=1)"), std::string::npos);
  m.region = {0, 0};
  EXPECT_NE(msg([&] { build_design({200}, {10, 0, 4, SensorKernel::Filter::Exponential}, m); }).find("period_ns"),
            std::string::npos);
  DesignMatrix a = build_design({120, 200}, k, m);
  EXPECT_NE(msg([&] { solve_deconvolution(a, Eigen::VectorXd::Zero(3), Eigen::VectorXd()); }).find("readings"),
            std::string::npos);
  Eigen::VectorXd neg = Eigen::VectorXd::Constant(2, -1.0);
  EXPECT_NE(msg([&] { solve_deconvolution(a, Eigen::VectorXd::Zero(2), neg); }).find("weights"), std::string::npos);
}

}  // namespace
}  // namespace edgepower
