#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "core/energy.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

namespace {
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

// Rows and columns of a 1-D [n] or 2-D [n, rails] value array matched to n timestamps.
std::pair<std::size_t, std::size_t> shape_of(const I64& t, const F64& v, const char* what) {
  if (t.ndim() != 1) throw std::invalid_argument("t_ns must be a 1-D array of int64 nanoseconds");
  if (v.ndim() != 1 && v.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 1-D [n] or 2-D [n, rails]");
  if (v.shape(0) != t.shape(0)) {
    throw std::invalid_argument(std::string(what) + " has " + std::to_string(v.shape(0)) + " rows but t_ns has " +
                                std::to_string(t.shape(0)));
  }
  return {static_cast<std::size_t>(t.shape(0)), v.ndim() == 2 ? static_cast<std::size_t>(v.shape(1)) : 1};
}

py::dict result_dict(const EnergyResult& r) {
  py::dict d;
  d["energy_j"] = r.energy_j;
  d["duration_s"] = r.duration_s;
  d["avg_power_w"] = r.avg_power_w;
  d["num_samples"] = r.num_samples;
  d["status"] = static_cast<int>(r.status);
  d["reason"] = r.status == EnergyStatus::Ok ? std::string() : status_message(r.status);
  if (r.status == EnergyStatus::CounterReset) {
    d["counter_resets"] = r.counter_resets;
    d["partial_energy_j"] = r.partial_energy_j;
    d["gap_s"] = r.gap_s;
  }
  return d;
}

template <typename Fn>
py::object per_column(const I64& t, const F64& v, const char* what, Fn fn) {
  auto [n, cols] = shape_of(t, v, what);
  std::vector<EnergyResult> out(cols);
  {
    py::gil_scoped_release release;
    for (std::size_t c = 0; c < cols; ++c) out[c] = fn(t.data(), v.data() + c, n, cols);
  }
  if (v.ndim() == 1) return result_dict(out[0]);
  py::list l;
  for (const auto& r : out) l.append(result_dict(r));
  return l;
}
}  // namespace

void register_energy(py::module_& m) {
  m.def("integrate_power",
        [](const I64& t, const F64& p, int64_t t0, int64_t t1) {
          return per_column(t, p, "power_w", [&](const int64_t* tt, const double* pp, std::size_t n, std::size_t s) {
            return integrate_power(tt, pp, n, s, t0, t1);
          });
        },
        py::arg("t_ns"), py::arg("power_w"), py::arg("t0_ns"), py::arg("t1_ns"),
        "Energy over [t0, t1] by trapezoid with interpolated edges: a dict (energy_j, duration_s, "
        "avg_power_w, num_samples, status, reason) or a list of them for 2-D power. NaN with a reason "
        "when the samples do not cover the window.");
  m.def("counter_energy",
        [](const I64& t, const F64& c, double range_j, int64_t t0, int64_t t1, double max_power_w,
           double update_interval_s) {
          return per_column(t, c, "counter_j", [&](const int64_t* tt, const double* cc, std::size_t n, std::size_t s) {
            return counter_energy(tt, cc, n, s, range_j, t0, t1, max_power_w, update_interval_s);
          });
        },
        py::arg("t_ns"), py::arg("counter_j"), py::arg("range_j"), py::arg("t0_ns"), py::arg("t1_ns"),
        py::kw_only(), py::arg("max_power_w") = 0.0, py::arg("update_interval_s") = 0.0,
        "Energy over [t0, t1] from counter readings, wraps at range_j corrected (0: never wraps). A counter "
        "reset inside the window (a drop the range does not explain, or a step beyond max_power_w, the "
        "sensor's SensorInfo.max_power_w) is never integrated across: NaN with status 7 and its reason, plus "
        "counter_resets, partial_energy_j (the parts on either side) and gap_s (the unknown gaps).");
  m.def("classify_counter_step",
        [](double c0, double c1, double dt_s, double range_j, double max_power_w) {
          switch (classify_counter_step(c0, c1, dt_s, range_j, max_power_w)) {
            case CounterStep::Ok: return "ok";
            case CounterStep::Wrap: return "wrap";
            case CounterStep::Reset: return "reset";
          }
          return "ok";
        },
        py::arg("c0_j"), py::arg("c1_j"), py::arg("energy_dt_s"), py::arg("range_j"), py::arg("max_power_w") = 0.0,
        "'ok', 'wrap' or 'reset' for a counter step c0 -> c1 over energy_dt_s (see counter_energy).");
  m.attr("STATUS_COUNTER_RESET") = static_cast<int>(EnergyStatus::CounterReset);
  m.def("counter_delta", &counter_delta, py::arg("c0_j"), py::arg("c1_j"), py::arg("range_j"));
  m.def("unwrap_counter",
        [](const F64& c, double range_j) {
          if (c.ndim() != 1) throw std::invalid_argument("unwrap_counter needs a 1-D array");
          py::array_t<double> out(c.shape(0));
          unwrap_counter(c.data(), static_cast<std::size_t>(c.shape(0)), 1, range_j, out.mutable_data());
          return out;
        },
        py::arg("counter_j"), py::arg("range_j"), "Cumulative energy from raw readings, starting at 0.");
  m.def("attribute_windows",
        [](const I64& t, const F64& p, const I64& t0, const I64& t1) {
          auto [n, cols] = shape_of(t, p, "power_w");
          if (cols != 1) throw std::invalid_argument("attribute_windows needs 1-D power; pass one rail or the total");
          if (t0.ndim() != 1 || t1.ndim() != 1 || t0.shape(0) != t1.shape(0)) {
            throw std::invalid_argument("t0_ns and t1_ns must be 1-D arrays of the same length");
          }
          const auto w = static_cast<std::size_t>(t0.shape(0));
          py::array_t<double> e(w);
          py::array_t<int64_t> ns(w);
          py::array_t<uint8_t> st(w);
          {
            py::gil_scoped_release release;
            attribute_windows(t.data(), p.data(), n, 1, t0.data(), t1.data(), w, e.mutable_data(), ns.mutable_data(),
                              st.mutable_data());
          }
          return py::make_tuple(e, ns, st);
        },
        py::arg("t_ns"), py::arg("power_w"), py::arg("t0_ns"), py::arg("t1_ns"),
        "Energy of many windows (any order, may overlap) in one sweep: (energy_j, num_samples, status).");
  m.def("assign_samples",
        [](const I64& t, const F64& p, const I64& t0, const I64& t1) {
          auto [n, cols] = shape_of(t, p, "power_w");
          if (cols != 1) throw std::invalid_argument("assign_samples needs 1-D power; pass one rail or the total");
          if (t0.ndim() != 1 || t1.ndim() != 1 || t0.shape(0) != t1.shape(0)) {
            throw std::invalid_argument("t0_ns and t1_ns must be 1-D arrays of the same length");
          }
          const auto w = static_cast<std::size_t>(t0.shape(0));
          py::array_t<int64_t> counts(w);
          py::array_t<double> sums(w);
          py::array_t<int64_t> owner(n);
          {
            py::gil_scoped_release release;
            assign_samples_innermost(t.data(), p.data(), n, 1, t0.data(), t1.data(), w, counts.mutable_data(),
                                     sums.mutable_data(), owner.mutable_data());
          }
          return py::make_tuple(counts, sums, owner);
        },
        py::arg("t_ns"), py::arg("power_w"), py::arg("t0_ns"), py::arg("t1_ns"),
        "Assigns each sample to the innermost window [t0, t1) active at its timestamp (the one begun "
        "last) in one sweep: (num_samples, power_sum_w per window, owner per sample, -1 for none). "
        "Samples must be ascending; non-finite power is assigned to no window.");
  m.def("status_message", [](int code) { return status_message(static_cast<EnergyStatus>(code)); }, py::arg("status"));
  m.def("repeat_stats",
        [](const F64& v) {
          if (v.ndim() != 1) throw std::invalid_argument("repeat_stats needs a 1-D array");
          RepeatStats s = repeat_stats(v.data(), static_cast<std::size_t>(v.shape(0)));
          py::dict d;
          d["n"] = s.n; d["mean"] = s.mean; d["stddev"] = s.stddev; d["ci95_half_width"] = s.ci95_half_width;
          return d;
        },
        py::arg("values"), "Mean, sample standard deviation and 95% CI half-width (Student t).");
  m.def("student_t_quantile", &student_t_quantile, py::arg("p"), py::arg("df"));
}

}  // namespace edgepower::bindings
