#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "core/sampler.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

namespace {
py::dict stats_dict(const SamplerStats& s) {
  py::dict d;
  d["requested_rate_hz"] = s.requested_rate_hz;
  d["samples"] = s.samples;
  d["duration_s"] = s.duration_s;
  d["achieved_rate_hz"] = s.achieved_rate_hz;
  d["lateness_p50_us"] = s.lateness_p50_us;
  d["lateness_p99_us"] = s.lateness_p99_us;
  d["lateness_max_us"] = s.lateness_max_us;
  d["read_p50_us"] = s.read_p50_us;
  d["read_p99_us"] = s.read_p99_us;
  d["read_max_us"] = s.read_max_us;
  d["missed_deadlines"] = s.missed_deadlines;
  d["read_errors"] = s.read_errors;
  d["identical_share"] = s.identical_share;
  d["effective_update_interval_s"] = s.effective_update_interval_s;
  d["last_error"] = s.last_error;
  d["failed"] = s.failed;
  d["realtime"] = s.realtime;
  d["cpu_s"] = s.cpu_s;
  return d;
}
}  // namespace

void register_sampler(py::module_& m) {
  py::class_<Sampler, SamplerPtr>(m, "Sampler",
                                  "A native thread reading one sensor at rate_hz on absolute deadlines. "
                                  "It never takes the GIL.")
      .def(py::init([](SensorPtr sensor, double rate_hz, int max_failures, std::size_t chunk, int rt) {
             SamplerOptions o;
             o.realtime_priority = rt;
             o.rate_hz = rate_hz;
             o.max_consecutive_failures = max_failures;
             o.chunk_samples = chunk;
             return std::make_shared<Sampler>(std::move(sensor), o);
           }),
           py::arg("sensor"), py::arg("rate_hz") = 1000.0, py::arg("max_consecutive_failures") = 100,
           py::arg("chunk_samples") = 16384, py::arg("realtime_priority") = 0)
      .def_static("check_rate_hz", &Sampler::check_rate_hz, py::arg("rate_hz"),
                  "Raises ValueError unless MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ (the sampler's own check).")
      .def_readonly_static("MIN_RATE_HZ", &Sampler::kMinRateHz)
      .def_readonly_static("MAX_RATE_HZ", &Sampler::kMaxRateHz)
      .def("start", &Sampler::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &Sampler::stop, py::call_guard<py::gil_scoped_release>(),
           "Stops and joins the thread; raises SensorError if it gave up after consecutive failures.")
      .def_property_readonly("running", &Sampler::running)
      .def_property_readonly("failed", &Sampler::failed)
      .def_property_readonly("realtime", &Sampler::realtime)
      .def_property_readonly("sensor", &Sampler::sensor)
      .def_property_readonly("rails", &Sampler::rails)
      .def_property_readonly("has_counter", &Sampler::has_counter)
      .def_property_readonly("rate_hz", [](const Sampler& s) { return s.options().rate_hz; })
      .def("__len__", &Sampler::size)
      .def("index_at_or_after", &Sampler::index_at_or_after, py::arg("t_ns"),
           "First sample index with t_ns >= t (len() if none).")
      .def("samples",
           [](const Sampler& s, std::size_t begin, py::object end_obj) {
             std::size_t end = end_obj.is_none() ? s.size() : std::min(end_obj.cast<std::size_t>(), s.size());
             const std::size_t n = begin < end ? end - begin : 0;
             const auto rails = static_cast<py::ssize_t>(s.rails());
             const auto rows = static_cast<py::ssize_t>(n);
             py::array_t<int64_t> t(rows);
             py::array_t<int32_t> read(rows), late(rows);
             py::array_t<double> power({rows, rails});
             py::array_t<double> counter(std::vector<py::ssize_t>{s.has_counter() ? rows : 0, rails});
             {
               py::gil_scoped_release release;
               s.copy(begin, begin + n, t.mutable_data(), read.mutable_data(), late.mutable_data(),
                      power.mutable_data(), s.has_counter() ? counter.mutable_data() : nullptr);
             }
             py::dict d;
             d["t_ns"] = t; d["read_ns"] = read; d["lateness_ns"] = late; d["power_w"] = power;
             d["counter_j"] = counter;
             return d;
           },
           py::arg("begin") = 0, py::arg("end") = py::none(),
           "Copies samples [begin, end) recorded so far: t_ns int64, read_ns/lateness_ns int32, "
           "power_w float64 [n, rails], counter_j float64 [n, rails] (0 rows without counters).")
      .def("stats", [](const Sampler& s) {
        SamplerStats st;
        {
          py::gil_scoped_release release;
          st = s.stats();
        }
        return stats_dict(st);
      });
}

}  // namespace edgepower::bindings
