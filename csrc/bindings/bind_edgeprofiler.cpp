#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "compat/edgeprofiler.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

namespace {
namespace ep = edgepower::edgeprofiler;
using I64 = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using F64 = py::array_t<double, py::array::c_style | py::array::forcecast>;

// Hands a vector to numpy without copying: the capsule owns it.
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule owner(owned, [](void* q) { delete static_cast<std::vector<T>*>(q); });
  return py::array_t<T>(static_cast<py::ssize_t>(owned->size()), owned->data(), owner);
}

void need_1d(const py::array& a, const char* what) {
  if (a.ndim() != 1) throw std::invalid_argument(std::string(what) + " must be a 1-D array");
}

void need_same(const py::array& a, const py::array& b, const char* what_a, const char* what_b) {
  if (a.shape(0) != b.shape(0)) {
    throw std::invalid_argument(std::string(what_a) + " has " + std::to_string(a.shape(0)) + " entries but " + what_b +
                                " has " + std::to_string(b.shape(0)));
  }
}

py::dict log_dict(ep::PowerLog&& log) {
  py::dict d;
  d["blank_lines"] = log.blank_lines;
  d["backward_steps"] = log.backward_steps;
  d["first_backward_line"] = log.first_backward_line;
  d["t_us"] = to_numpy(std::move(log.t_us));
  d["voltage_mv"] = to_numpy(std::move(log.voltage_mv));
  d["current_ma"] = to_numpy(std::move(log.current_ma));
  d["line"] = to_numpy(std::move(log.line));
  return d;
}
}  // namespace

void register_edgeprofiler(py::module_& m) {
  py::module_ e = m.def_submodule(
      "edgeprofiler", "EdgeProfiler interoperability: power log parser, upstream's mapping rule, corrected mapping");
  // A subclass of ValueError, so callers that catch bad input generally still catch it; the
  // instance carries .line. The type lives as long as the process (one reference kept here).
  static PyObject* parse_error_type =
      PyErr_NewException("edgepower._core.edgeprofiler.ParseError", PyExc_ValueError, nullptr);
  e.attr("ParseError") = py::handle(parse_error_type);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ep::ParseError& err) {
      py::object exc = py::reinterpret_borrow<py::object>(parse_error_type)(err.what());
      exc.attr("line") = err.line();
      PyErr_SetObject(parse_error_type, exc.ptr());
    }
  });

  e.def("read_power_log",
        [](const std::string& path) {
          ep::PowerLog log;
          {
            py::gil_scoped_release release;
            log = ep::read_power_log(path);
          }
          return log_dict(std::move(log));
        },
        py::arg("path"),
        "Parse a power log file ('YYYYmmdd-HH:MM:SS.f,<mV>,<mA>' a line): a dict of t_us (int64 us since "
        "1970), voltage_mv, current_ma, line (1-based), blank_lines, backward_steps, first_backward_line. "
        "Raises ParseError (a ValueError with .line) for a malformed line.");
  e.def("parse_power_log",
        [](const py::bytes& text) {
          char* data = nullptr;
          Py_ssize_t size = 0;
          if (PyBytes_AsStringAndSize(text.ptr(), &data, &size) != 0) throw py::error_already_set();
          std::string_view view(data, static_cast<std::size_t>(size));
          ep::PowerLog log;
          {
            py::gil_scoped_release release;
            log = ep::parse_power_log(view);
          }
          return log_dict(std::move(log));
        },
        py::arg("text"), "Like read_power_log, from the bytes of a log.");
  e.def("parse_timestamps",
        [](const std::vector<std::string>& texts) {
          std::vector<int64_t> out(texts.size());
          for (std::size_t i = 0; i < texts.size(); ++i) {
            if (!ep::parse_timestamp_us(texts[i], &out[i])) {
              throw py::value_error("timestamp #" + std::to_string(i) + " '" + texts[i] +
                                    "' is not 'YYYYmmdd-HH:MM:SS.f' (fraction of 1 to 6 digits)");
            }
          }
          return to_numpy(std::move(out));
        },
        py::arg("texts"), "Timestamps 'YYYYmmdd-HH:MM:SS.f' as int64 microseconds since 1970 (ValueError names the index).");
  e.def("format_timestamps",
        [](const I64& t) {
          need_1d(t, "t_us");
          std::vector<std::string> out(static_cast<std::size_t>(t.shape(0)));
          for (std::size_t i = 0; i < out.size(); ++i) out[i] = ep::format_timestamp_us(t.data()[i]);
          return out;
        },
        py::arg("t_us"), "Microseconds since 1970 as 'YYYYmmdd-HH:MM:SS.ffffff' strings.");
  e.def("timedelta_ms_to_us",
        [](const F64& ms) {
          need_1d(ms, "ms");
          std::vector<int64_t> out(static_cast<std::size_t>(ms.shape(0)));
          for (std::size_t i = 0; i < out.size(); ++i) out[i] = ep::timedelta_ms_to_us(ms.data()[i]);
          return to_numpy(std::move(out));
        },
        py::arg("ms"), "Microseconds of Python's timedelta(milliseconds=x) for each x (round half to even).");
  e.def("compat_sweep",
        [](const I64& t, const F64& p, const I64& start, const I64& end) {
          need_1d(t, "t_us"); need_1d(p, "power_uw"); need_1d(start, "start_us"); need_1d(end, "end_us");
          need_same(t, p, "t_us", "power_uw");
          need_same(start, end, "start_us", "end_us");
          const auto rows = static_cast<std::size_t>(start.shape(0));
          std::vector<double> mean(rows, std::numeric_limits<double>::quiet_NaN());
          std::vector<int64_t> count(rows, 0);
          std::size_t emitted;
          {
            py::gil_scoped_release release;
            emitted = ep::compat_sweep(t.data(), p.data(), static_cast<std::size_t>(t.shape(0)), start.data(),
                                       end.data(), rows, mean.data(), count.data());
          }
          mean.resize(emitted);
          count.resize(emitted);
          return py::make_tuple(to_numpy(std::move(mean)), to_numpy(std::move(count)), emitted);
        },
        py::arg("t_us"), py::arg("power_uw"), py::arg("start_us"), py::arg("end_us"),
        "Upstream's mapping rule: (mean_power_uw, num_samples, rows_emitted); rows after the end of the log "
        "are dropped.");
  e.def("corrected_windows",
        [](const I64& t, const F64& p, const I64& start, const I64& end, double idle_uw) {
          need_1d(t, "t_us"); need_1d(p, "power_uw"); need_1d(start, "start_us"); need_1d(end, "end_us");
          need_same(t, p, "t_us", "power_uw");
          need_same(start, end, "start_us", "end_us");
          const auto rows = static_cast<std::size_t>(start.shape(0));
          std::vector<double> e_uj(rows), e_net(rows), p_uw(rows), p_net(rows);
          std::vector<int64_t> ns(rows);
          std::vector<uint8_t> st(rows);
          {
            py::gil_scoped_release release;
            ep::corrected_windows(t.data(), p.data(), static_cast<std::size_t>(t.shape(0)), start.data(), end.data(),
                                  rows, idle_uw, e_uj.data(), e_net.data(), p_uw.data(), p_net.data(), ns.data(),
                                  st.data());
          }
          py::dict d;
          d["energy_uj"] = to_numpy(std::move(e_uj));
          d["energy_excl_idle_uj"] = to_numpy(std::move(e_net));
          d["mean_power_uw"] = to_numpy(std::move(p_uw));
          d["mean_power_excl_idle_uw"] = to_numpy(std::move(p_net));
          d["num_samples"] = to_numpy(std::move(ns));
          d["status"] = to_numpy(std::move(st));
          return d;
        },
        py::arg("t_us"), py::arg("power_uw"), py::arg("start_us"), py::arg("end_us"), py::arg("idle_power_uw"),
        "Trapezoid energy per window without sample consumption; status codes as energy.status_message.");
  e.def("render_power_log",
        [](const I64& t, const F64& mv, const F64& ma) {
          need_1d(t, "t_us"); need_1d(mv, "voltage_mv"); need_1d(ma, "current_ma");
          need_same(t, mv, "t_us", "voltage_mv");
          need_same(t, ma, "t_us", "current_ma");
          std::string out;
          {
            py::gil_scoped_release release;
            out = ep::render_power_log(t.data(), mv.data(), ma.data(), static_cast<std::size_t>(t.shape(0)));
          }
          return py::bytes(out);
        },
        py::arg("t_us"), py::arg("voltage_mv"), py::arg("current_ma"),
        "Samples in EdgeProfiler's log format ('YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>' lines) as bytes.");
  e.def("repr_double", &ep::repr_double, py::arg("x"), "Python's repr() of a float, computed natively.");
  e.def("render_csv",
        [](const std::vector<std::string>& header, const py::list& columns, std::size_t rows) {
          // Each column: ("int", int64 array) | ("float", float64 array) | ("text", int32 index array, [str]).
          std::vector<ep::CsvColumn> cols;
          std::vector<py::array> keep;
          std::vector<std::vector<std::string>> texts;
          texts.reserve(columns.size());
          for (const auto& item : columns) {
            auto t = item.cast<py::tuple>();
            const auto kind = t[0].cast<std::string>();
            ep::CsvColumn c;
            if (kind == "int") {
              auto a = t[1].cast<I64>();
              need_1d(a, "int column");
              if (static_cast<std::size_t>(a.shape(0)) < rows) throw std::invalid_argument("int column shorter than rows");
              c.kind = ep::CsvColumn::Kind::Int; c.ints = a.data(); keep.push_back(a);
            } else if (kind == "float") {
              auto a = t[1].cast<F64>();
              need_1d(a, "float column");
              if (static_cast<std::size_t>(a.shape(0)) < rows) throw std::invalid_argument("float column shorter than rows");
              c.kind = ep::CsvColumn::Kind::Float; c.floats = a.data(); keep.push_back(a);
            } else if (kind == "text") {
              auto a = t[1].cast<py::array_t<int32_t, py::array::c_style | py::array::forcecast>>();
              need_1d(a, "text column");
              if (static_cast<std::size_t>(a.shape(0)) < rows) throw std::invalid_argument("text column shorter than rows");
              texts.push_back(t[2].cast<std::vector<std::string>>());
              c.kind = ep::CsvColumn::Kind::Text; c.text_index = a.data(); c.texts = &texts.back(); keep.push_back(a);
            } else {
              throw std::invalid_argument("column kind must be 'int', 'float' or 'text', not '" + kind + "'");
            }
            cols.push_back(c);
          }
          std::string out;
          {
            py::gil_scoped_release release;
            out = ep::render_csv(header, cols, rows);
          }
          return py::bytes(out);
        },
        py::arg("header"), py::arg("columns"), py::arg("rows"),
        "A CSV table rendered as pandas' to_csv(index=False) does (floats as repr, NaN empty), as bytes.");
}

}  // namespace edgepower::bindings
