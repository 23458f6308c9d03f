#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <limits>

#include "bindings.hpp"
#include "core/deconv.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

namespace {
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

std::vector<int64_t> vec1d(const I64& a, const char* name) {
  if (a.ndim() != 1) throw std::invalid_argument(std::string(name) + " must be a 1-D array of int64");
  return std::vector<int64_t>(a.data(), a.data() + a.shape(0));
}

// The sparse design matrix of one set of readings and marks, solved for any readings/weights.
struct Deconvolution {
  DesignMatrix a;
};
}  // namespace

void register_deconv(py::module_& m) {
  py::class_<Deconvolution>(m, "Deconvolution",
                            "Design matrix A (readings x regions + idle) of in-situ readings on a sensor kernel, and "
                            "its non-negative least-squares solution (csrc/core/deconv.hpp).")
      .def(py::init([](const I64& refresh_ns, const I64& t0, const I64& t1, const I64& region, int n_regions,
                       int64_t observe_ns, int64_t period_ns, int averages, const std::string& filter) {
             SensorKernel k;
             k.observe_ns = observe_ns;
             k.period_ns = period_ns;
             k.averages = averages;
             if (filter == "exponential") k.filter = SensorKernel::Filter::Exponential;
             else if (filter == "sliding-mean") k.filter = SensorKernel::Filter::SlidingMean;
             else throw std::invalid_argument("filter must be 'exponential' or 'sliding-mean', got '" + filter + "'");
             DeconvMarks mk;
             mk.t0 = vec1d(t0, "marks_t0_ns");
             mk.t1 = vec1d(t1, "marks_t1_ns");
             for (int64_t r : vec1d(region, "marks_region")) {
               if (r < 0 || r > std::numeric_limits<int32_t>::max()) {
                 throw std::invalid_argument("marks_region must hold region indices in [0, n_regions)");
               }
               mk.region.push_back(static_cast<int32_t>(r));
             }
             mk.n_regions = n_regions;
             auto times = vec1d(refresh_ns, "refresh_ns");
             py::gil_scoped_release release;
             return Deconvolution{build_design(times, k, std::move(mk))};
           }),
           py::arg("refresh_ns"), py::arg("marks_t0_ns"), py::arg("marks_t1_ns"), py::arg("marks_region"),
           py::arg("n_regions"), py::kw_only(), py::arg("observe_ns"), py::arg("period_ns") = 0,
           py::arg("averages") = 1, py::arg("filter") = "exponential",
           "Builds A in one sweep. observe_ns: window of one conversion (0: instant readings); period_ns: time "
           "between conversions (needed for averages > 1); filter: 'exponential' (acc += (x - acc) / N) or "
           "'sliding-mean' (mean of the last N conversions). Marks must not overlap.")
      .def_property_readonly("rows", [](const Deconvolution& d) { return d.a.rows(); })
      .def_property_readonly("cols", [](const Deconvolution& d) { return d.a.cols(); })
      .def_property_readonly("nonzeros", [](const Deconvolution& d) { return d.a.nonZeros(); })
      .def("dense",
           [](const Deconvolution& d) {
             py::array_t<double> out({d.a.rows(), d.a.cols()});
             auto o = out.mutable_unchecked<2>();
             for (Eigen::Index i = 0; i < d.a.rows(); ++i) {
               for (Eigen::Index j = 0; j < d.a.cols(); ++j) o(i, j) = 0.0;
               for (DesignMatrix::InnerIterator it(d.a, i); it; ++it) o(i, it.col()) = it.value();
             }
             return out;
           },
           "A as a dense [rows, cols] array (last column: idle).")
      .def("solve",
           [](const Deconvolution& d, const F64& readings, const py::object& weights, double rank_tol) {
             if (readings.ndim() != 1) throw std::invalid_argument("readings must be a 1-D array of watts");
             Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(readings.data(), readings.shape(0));
             Eigen::VectorXd w;
             if (!weights.is_none()) {
               F64 wa = weights.cast<F64>();
               if (wa.ndim() != 1) throw std::invalid_argument("weights must be a 1-D array (one per reading)");
               w = Eigen::Map<const Eigen::VectorXd>(wa.data(), wa.shape(0));
             }
             DeconvResult r;
             {
               py::gil_scoped_release release;
               r = solve_deconvolution(d.a, y, w, rank_tol);
             }
             const auto c = static_cast<py::ssize_t>(d.a.cols());
             py::array_t<double> power(c), weight(c);
             py::array_t<bool> ident(c), zero(c);
             for (py::ssize_t j = 0; j < c; ++j) {
               power.mutable_at(j) = r.power[j];
               weight.mutable_at(j) = r.column_weight[j];
               ident.mutable_at(j) = r.identifiable[static_cast<std::size_t>(j)];
               zero.mutable_at(j) = r.at_zero[static_cast<std::size_t>(j)];
             }
             py::dict out;
             out["power_w"] = power;
             out["identifiable"] = ident;
             out["at_zero"] = zero;
             out["column_weight"] = weight;
             out["condition"] = r.condition;
             out["residual_rms_w"] = r.residual_rms;
             out["residual_w"] = py::array_t<double>(r.residual.size(), r.residual.data());
             out["iterations"] = r.iterations;
             return out;
           },
           py::arg("readings"), py::arg("weights") = py::none(), py::arg("rank_tol") = 1e-10,
           "Non-negative least squares readings = A p (weights: per reading, e.g. bootstrap counts). Returns "
           "power_w (per column, NaN where not identifiable), identifiable, at_zero (bound active), column_weight, "
           "condition (of A with unit columns; inf when rank deficient), residual_rms_w, residual_w (per reading, "
           "readings - A p, weighted 0 or not), iterations.");
}

}  // namespace edgepower::bindings
