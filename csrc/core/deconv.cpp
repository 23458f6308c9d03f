#include "core/deconv.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <Eigen/Eigenvalues>
#include <Eigen/QR>

namespace edgepower {

namespace {

// Sorted, non-overlapping marks and the sweep that spreads a window over them.
struct MarkIndex {
  std::vector<int64_t> t0, t1;
  std::vector<int32_t> region;
  int32_t idle = 0;

  // Adds weight x (fraction of [a, b) in each region) to row; the rest of the window is idle.
  void add_window(int64_t a, int64_t b, double weight, Eigen::VectorXd& row) const {
    if (b <= a) {  // instant: the power at a
      auto it = std::upper_bound(t1.begin(), t1.end(), a);
      std::size_t i = static_cast<std::size_t>(it - t1.begin());
      row[(i < t0.size() && t0[i] <= a) ? region[i] : idle] += weight;
      return;
    }
    const double span = static_cast<double>(b - a);
    double covered = 0;
    auto it = std::upper_bound(t1.begin(), t1.end(), a);  // first mark ending after a
    for (std::size_t i = static_cast<std::size_t>(it - t1.begin()); i < t0.size() && t0[i] < b; ++i) {
      const double ov = static_cast<double>(std::min(b, t1[i]) - std::max(a, t0[i])) / span;
      if (ov > 0) {
        row[region[i]] += weight * ov;
        covered += ov;
      }
    }
    row[idle] += weight * std::max(0.0, 1.0 - covered);
  }
};

MarkIndex index_marks(DeconvMarks m) {
  const std::size_t n = m.t0.size();
  if (m.t1.size() != n || m.region.size() != n) {
    throw std::invalid_argument("marks: t0, t1 and region must have the same length (got " + std::to_string(n) + ", " +
                                std::to_string(m.t1.size()) + ", " + std::to_string(m.region.size()) + ")");
  }
  if (m.n_regions < 1) throw std::invalid_argument("n_regions must be >= 1 (one column per marked region)");
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return m.t0[a] < m.t0[b]; });
  MarkIndex ix;
  ix.idle = m.n_regions;
  for (std::size_t k : order) {
    if (m.region[k] < 0 || m.region[k] >= m.n_regions) {
      throw std::invalid_argument("marks: region " + std::to_string(m.region[k]) + " of mark " + std::to_string(k) +
                                  " is outside [0, n_regions=" + std::to_string(m.n_regions) + ")");
    }
    if (m.t1[k] < m.t0[k]) {
      throw std::invalid_argument("marks: mark " + std::to_string(k) + " ends before it begins (t1 < t0)");
    }
    if (m.t1[k] == m.t0[k]) continue;  // an empty call holds no time
    if (!ix.t1.empty() && m.t0[k] < ix.t1.back()) {
      throw std::invalid_argument("marks: mark " + std::to_string(k) + " begins at " + std::to_string(m.t0[k]) +
                                  " ns, inside the previous mark (ends " + std::to_string(ix.t1.back()) +
                                  " ns): pass only leaf regions, whose calls never overlap");
    }
    ix.t0.push_back(m.t0[k]);
    ix.t1.push_back(m.t1[k]);
    ix.region.push_back(m.region[k]);
  }
  return ix;
}

void push_row(std::vector<Eigen::Triplet<double>>& trips, Eigen::Index k, const Eigen::VectorXd& row) {
  for (Eigen::Index j = 0; j < row.size(); ++j) {
    if (row[j] > 1e-15) trips.emplace_back(k, j, row[j]);
  }
}

}  // namespace

DesignMatrix build_design(const std::vector<int64_t>& refresh_ns, const SensorKernel& kernel, DeconvMarks marks) {
  if (kernel.observe_ns < 0) throw std::invalid_argument("kernel: observe_ns must be >= 0 (0: instant readings)");
  if (kernel.averages < 1) throw std::invalid_argument("kernel: averages must be >= 1 (1: no running average)");
  if (kernel.averages > 1 && kernel.period_ns <= 0) {
    throw std::invalid_argument("kernel: averages > 1 needs period_ns > 0 (the time between conversions)");
  }
  for (std::size_t k = 1; k < refresh_ns.size(); ++k) {
    if (refresh_ns[k] <= refresh_ns[k - 1]) {
      throw std::invalid_argument("refresh_ns must be strictly ascending (one reading per refresh); index " +
                                  std::to_string(k) + " is not: drop repeated readings of one refresh first");
    }
  }
  const MarkIndex ix = index_marks(std::move(marks));
  const Eigen::Index cols = ix.idle + 1;
  const Eigen::Index rows = static_cast<Eigen::Index>(refresh_ns.size());
  const int64_t obs = kernel.observe_ns;
  std::vector<Eigen::Triplet<double>> trips;
  trips.reserve(static_cast<std::size_t>(rows) * 4);
  Eigen::VectorXd row = Eigen::VectorXd::Zero(cols);
  const int n = kernel.averages;
  if (n > 1 && kernel.filter == SensorKernel::Filter::SlidingMean) {
    for (Eigen::Index k = 0; k < rows; ++k) {
      row.setZero();
      for (int m = 0; m < n; ++m) {
        const int64_t t = refresh_ns[k] - static_cast<int64_t>(m) * kernel.period_ns;
        ix.add_window(t - obs, t, 1.0 / n, row);
      }
      push_row(trips, k, row);
    }
  } else {
    // Exponential running average (N = 1: the last conversion alone), one conversion at a time:
    // row <- (1 - 1/N) row + (1/N) window. Before the first reading: steady idle, then enough
    // history conversions that the truncated weight is below 1e-12.
    const double alpha = 1.0 / n;
    auto convert = [&](int64_t t) {
      if (n > 1) row *= (1.0 - alpha);
      else row.setZero();
      ix.add_window(t - obs, t, alpha, row);
    };
    row[ix.idle] = 1.0;
    for (Eigen::Index k = 0; k < rows; ++k) {
      const int64_t t = refresh_ns[k];
      int64_t before = 0;  // conversions between the previous reading and this one
      if (n > 1) {
        before = k == 0 ? static_cast<int64_t>(std::ceil(std::log(1e-12) / std::log(1.0 - alpha)))
                        : std::max<int64_t>(0, std::llround(static_cast<double>(t - refresh_ns[k - 1]) /
                                                            static_cast<double>(kernel.period_ns)) - 1);
      }
      for (int64_t m = before; m >= 1; --m) convert(t - m * kernel.period_ns);
      convert(t);
      push_row(trips, k, row);
    }
  }
  DesignMatrix a(rows, cols);
  a.setFromTriplets(trips.begin(), trips.end());
  return a;
}

DeconvResult solve_deconvolution(const DesignMatrix& a, const Eigen::VectorXd& y, const Eigen::VectorXd& weights,
                                 double rank_tol) {
  const Eigen::Index n = a.rows(), c = a.cols();
  if (y.size() != n) {
    throw std::invalid_argument("readings: " + std::to_string(y.size()) + " values for " + std::to_string(n) +
                                " rows of the design matrix");
  }
  if (weights.size() != 0 && weights.size() != n) {
    throw std::invalid_argument("weights: " + std::to_string(weights.size()) + " for " + std::to_string(n) +
                                " readings (empty: all 1)");
  }
  if (!y.allFinite()) throw std::invalid_argument("readings must be finite (drop NaN readings first)");
  if (weights.size() && (!weights.allFinite() || weights.minCoeff() < 0)) {
    throw std::invalid_argument("weights must be finite and >= 0");
  }
  if (!(rank_tol > 0 && rank_tol < 1)) throw std::invalid_argument("rank_tol must be in (0, 1)");
  // Normal equations in one pass over the sparse rows.
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(c, c);
  Eigen::VectorXd b = Eigen::VectorXd::Zero(c);
  DeconvResult r;
  r.column_weight = Eigen::VectorXd::Zero(c);
  double wsum = 0;
  for (Eigen::Index k = 0; k < n; ++k) {
    const double w = weights.size() ? weights[k] : 1.0;
    if (w == 0) continue;
    wsum += w;
    for (DesignMatrix::InnerIterator i(a, k); i; ++i) {
      b[i.col()] += w * i.value() * y[k];
      r.column_weight[i.col()] += w * i.value();
      for (DesignMatrix::InnerIterator j(a, k); j; ++j) g(i.col(), j.col()) += w * i.value() * j.value();
    }
  }
  // Observed columns, scaled to unit norm.
  const double dmax = c ? g.diagonal().maxCoeff() : 0.0;
  std::vector<Eigen::Index> obs;
  for (Eigen::Index j = 0; j < c; ++j) {
    if (g(j, j) > 1e-14 * dmax && g(j, j) > 0) obs.push_back(j);
  }
  const Eigen::Index m = static_cast<Eigen::Index>(obs.size());
  r.power = Eigen::VectorXd::Constant(c, std::numeric_limits<double>::quiet_NaN());
  r.identifiable.assign(static_cast<std::size_t>(c), false);
  r.at_zero.assign(static_cast<std::size_t>(c), false);
  r.condition = std::numeric_limits<double>::infinity();
  if (m == 0) return r;
  Eigen::VectorXd d(m), bs(m);
  Eigen::MatrixXd gs(m, m);
  for (Eigen::Index i = 0; i < m; ++i) d[i] = 1.0 / std::sqrt(g(obs[i], obs[i]));
  for (Eigen::Index i = 0; i < m; ++i) {
    bs[i] = d[i] * b[obs[i]];
    for (Eigen::Index j = 0; j < m; ++j) gs(i, j) = d[i] * g(obs[i], obs[j]) * d[j];
  }
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(gs);
  const Eigen::VectorXd& lam = eig.eigenvalues();  // ascending
  const double lmax = lam[m - 1];
  if (lam[0] > rank_tol * lmax) r.condition = std::sqrt(lmax / lam[0]);
  std::vector<bool> ident(static_cast<std::size_t>(m), true);
  for (Eigen::Index e = 0; e < m && lam[e] <= rank_tol * lmax; ++e) {
    for (Eigen::Index i = 0; i < m; ++i) {
      if (std::abs(eig.eigenvectors()(i, e)) > 1e-3) ident[static_cast<std::size_t>(i)] = false;
    }
  }
  // Lawson-Hanson active set on the scaled normal equations.
  Eigen::VectorXd x = Eigen::VectorXd::Zero(m);
  std::vector<bool> passive(static_cast<std::size_t>(m), false);
  const double tol = 1e-12 * std::max(1.0, bs.cwiseAbs().maxCoeff());
  const int max_iter = static_cast<int>(30 * m + 100);
  auto solve_passive = [&](Eigen::VectorXd& z) {
    std::vector<Eigen::Index> p;
    for (Eigen::Index i = 0; i < m; ++i) {
      if (passive[static_cast<std::size_t>(i)]) p.push_back(i);
    }
    Eigen::MatrixXd gp(p.size(), p.size());
    Eigen::VectorXd bp(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      bp[static_cast<Eigen::Index>(i)] = bs[p[i]];
      for (std::size_t j = 0; j < p.size(); ++j) {
        gp(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = gs(p[i], p[j]);
      }
    }
    Eigen::VectorXd zp = gp.completeOrthogonalDecomposition().solve(bp);
    z.setZero();
    for (std::size_t i = 0; i < p.size(); ++i) z[p[i]] = zp[static_cast<Eigen::Index>(i)];
  };
  Eigen::VectorXd z(m);
  int iter = 0;
  while (iter < max_iter) {
    const Eigen::VectorXd w = bs - gs * x;
    Eigen::Index best = -1;
    for (Eigen::Index i = 0; i < m; ++i) {
      if (!passive[static_cast<std::size_t>(i)] && w[i] > tol && (best < 0 || w[i] > w[best])) best = i;
    }
    if (best < 0) break;
    passive[static_cast<std::size_t>(best)] = true;
    while (iter++ < max_iter) {
      solve_passive(z);
      double alpha = std::numeric_limits<double>::infinity();
      for (Eigen::Index i = 0; i < m; ++i) {
        if (passive[static_cast<std::size_t>(i)] && z[i] <= 0) alpha = std::min(alpha, x[i] / (x[i] - z[i]));
      }
      if (!std::isfinite(alpha)) {
        x = z;
        break;
      }
      x += alpha * (z - x);
      for (Eigen::Index i = 0; i < m; ++i) {
        if (passive[static_cast<std::size_t>(i)] && x[i] <= tol) {
          passive[static_cast<std::size_t>(i)] = false;
          x[i] = 0;
        }
      }
    }
  }
  r.iterations = iter;
  Eigen::VectorXd p = Eigen::VectorXd::Zero(c);
  for (Eigen::Index i = 0; i < m; ++i) {
    const std::size_t col = static_cast<std::size_t>(obs[i]);
    p[obs[i]] = d[i] * x[i];
    r.identifiable[col] = ident[static_cast<std::size_t>(i)];
    r.at_zero[col] = !passive[static_cast<std::size_t>(i)];
    r.power[obs[i]] = r.identifiable[col] ? p[obs[i]] : std::numeric_limits<double>::quiet_NaN();
  }
  // Residual row by row (the normal-equation form yy - 2 p.b + p.G.p cancels to rounding noise).
  double rss = 0;
  r.residual.resize(n);
  for (Eigen::Index k = 0; k < n; ++k) {
    double fit = 0;
    for (DesignMatrix::InnerIterator i(a, k); i; ++i) fit += i.value() * p[i.col()];
    r.residual[k] = y[k] - fit;
    const double w = weights.size() ? weights[k] : 1.0;
    rss += w * r.residual[k] * r.residual[k];
  }
  r.residual_rms = wsum > 0 ? std::sqrt(rss / wsum) : 0.0;
  return r;
}

}  // namespace edgepower
