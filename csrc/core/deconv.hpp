#pragma once
// In-situ attribution by deconvolution: every reading of a sensor is a known linear combination
// of the (constant) powers of the marked regions and of idle, readings = A p; the powers are the
// non-negative least-squares solution. Issue 15, part 1.
//
// The kernel says what a reading is:
//  - instant (observe_ns = 0): the power at the refresh instant;
//  - boxcar / one conversion (averages = 1): the mean power over [t - observe_ns, t];
//  - a running average of N conversions (averages = N > 1): conversions end every period_ns,
//    each observes [t_c - observe_ns, t_c]; the register at a refresh holds either the
//    exponential running average acc += (x - acc) / N (the INA3221 filter as edgepower's
//    emulator and SensorModel.reading_lag_s model it) or the plain mean of the last N
//    conversions (Filter::SlidingMean).
// A[k, j] is the fraction of reading k's kernel weight inside region j's marks; the last column
// is idle: every moment not inside a mark (and history before the first reading).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SparseCore>

namespace edgepower {

struct SensorKernel {
  enum class Filter { Exponential, SlidingMean };
  int64_t observe_ns = 0;   ///< window observed by one conversion (0: instant)
  int64_t period_ns = 0;    ///< time between conversions (needed when averages > 1)
  int averages = 1;         ///< N of the running average (1: none)
  Filter filter = Filter::Exponential;
};

/// Marks: call k of region[k] ran over [t0[k], t1[k]). Sorted by t0 and not overlapping (the
/// builder sorts a copy and throws std::invalid_argument naming the first overlap).
struct DeconvMarks {
  std::vector<int64_t> t0, t1;
  std::vector<int32_t> region;
  int32_t n_regions = 0;
};

/// Sparse design matrix, one row per reading, n_regions + 1 columns (the last one is idle).
using DesignMatrix = Eigen::SparseMatrix<double, Eigen::RowMajor>;

/// Builds A in one sweep over the readings' refresh times (ascending; std::invalid_argument
/// otherwise) and the marks. Throws std::invalid_argument for a bad kernel or marks.
DesignMatrix build_design(const std::vector<int64_t>& refresh_ns, const SensorKernel& kernel, DeconvMarks marks);

struct DeconvResult {
  Eigen::VectorXd power;              ///< per column (regions, then idle); NaN where not identifiable
  std::vector<bool> identifiable;     ///< per column
  std::vector<bool> at_zero;          ///< per column: the non-negativity bound is active
  double condition = 0;               ///< 2-norm condition number of A with unit-norm columns (inf: rank deficient)
  double residual_rms = 0;            ///< weighted RMS of readings - A p (W)
  Eigen::VectorXd residual;           ///< per reading, weighted 0 or not: readings - A p (W), with the fitted p
                                      ///< (unidentifiable columns at their minimum-norm values)
  int iterations = 0;                 ///< active-set iterations
  Eigen::VectorXd column_weight;      ///< per column: sum over readings of A[k, j] (how much it was observed)
};

/// Solves min ||W^(1/2) (y - A p)|| subject to p >= 0 (Lawson-Hanson active set on the normal
/// matrix A^T W A). `weights` (empty: all 1) are per reading, >= 0 (bootstrap resampling counts).
/// Columns whose unit-scaled normal matrix has a near-null direction (relative eigenvalue below
/// `rank_tol`) through them, or that were never observed, are not identifiable: reported as NaN
/// (they stay in the fit, solved by minimum norm, so the identifiable columns are unaffected).
DeconvResult solve_deconvolution(const DesignMatrix& a, const Eigen::VectorXd& y, const Eigen::VectorXd& weights,
                                 double rank_tol = 1e-10);

}  // namespace edgepower
