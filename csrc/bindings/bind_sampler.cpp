#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include <cmath>
#include <optional>

#include "core/sampler.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

namespace {
py::dict per_rail(const Sampler& sm, const std::vector<std::size_t>& v) {
  py::dict d;
  const auto& rails = sm.sensor()->info().rails;
  for (std::size_t r = 0; r < v.size() && r < rails.size(); ++r) d[py::str(rails[r])] = v[r];
  return d;
}

std::size_t total(const std::vector<std::size_t>& v) {
  std::size_t n = 0;
  for (std::size_t x : v) n += x;
  return n;
}

py::dict stats_dict(const Sampler& sm, const SamplerStats& s) {
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
  d["memory_policy"] = memory_policy_name(s.memory_policy);
  d["max_samples"] = s.max_samples;
  d["max_memory_mb"] = static_cast<double>(s.max_samples) * static_cast<double>(s.bytes_per_sample) / 1e6;
  d["bytes_per_sample"] = s.bytes_per_sample;
  d["retained_samples"] = s.retained_samples;
  d["dropped_samples"] = s.dropped_samples;
  d["limit_reached"] = s.limit_reached;
  d["stop_reason"] = s.stop_reason;
  d["finished"] = s.finished;
  d["counter_resets"] = total(s.counter_resets);
  d["counter_resets_per_rail"] = per_rail(sm, s.counter_resets);
  d["last_counter_reset"] = s.last_counter_reset;
  d["negative_power_samples"] = total(s.negative_power_samples);
  d["negative_power_per_rail"] = per_rail(sm, s.negative_power_samples);
  d["mode"] = s.mode;
  d["refresh_state"] = s.refresh_state;
  d["refresh_guess_s"] = s.refresh_guess_s;
  d["refresh_period_s"] = s.refresh_period_s;
  d["refresh_phase_ns"] = s.refresh_phase_ns;
  d["refreshes"] = s.refreshes;
  d["refreshes_changed"] = s.refreshes_changed;
  d["refreshes_late"] = s.refreshes_late;
  d["refresh_probes"] = s.refresh_probes;
  d["refresh_probes_early"] = s.refresh_probes_early;
  d["refresh_within_50us_share"] = s.refresh_within_50us_share;
  d["refresh_latency_p50_us"] = s.refresh_latency_p50_us;
  d["refresh_latency_p99_us"] = s.refresh_latency_p99_us;
  d["refresh_learns"] = s.refresh_learns;
  d["refresh_fallbacks"] = s.refresh_fallbacks;
  d["refresh_note"] = s.refresh_note;
  return d;
}
}  // namespace

void register_sampler(py::module_& m) {
  // A SensorError in Python too: code that handles the sampler's failures handles its limits.
  py::register_exception<SamplerLimitError>(m, "SamplerLimitError", m.attr("SensorError").ptr());
  py::class_<Sampler, SamplerPtr>(m, "Sampler",
                                  "A native thread reading one sensor at rate_hz on absolute deadlines (refresh=True: just after "
                                  "each sensor refresh, learnt from the readings; rate_hz is then the fallback). "
                                  "It never takes the GIL. Stored samples are capped (max_samples, or "
                                  "max_memory_mb; default 10 % of physical RAM): memory_policy 'stop' stops "
                                  "with SamplerLimitError at the cap, 'rolling' keeps the newest samples.")
      .def(py::init([](SensorPtr sensor, double rate_hz, int max_failures, std::size_t chunk, int rt,
                       std::size_t max_samples, py::object max_memory_mb, const std::string& policy,
                       std::size_t max_chunks, bool refresh, py::object refresh_guess_s) {
             SamplerOptions o;
             o.refresh_lock = refresh;
             if (!refresh_guess_s.is_none()) o.refresh_guess_s = refresh_guess_s.cast<double>();
             o.realtime_priority = rt;
             o.rate_hz = rate_hz;
             o.max_consecutive_failures = max_failures;
             o.chunk_samples = chunk;
             o.max_samples = max_samples;
             if (!max_memory_mb.is_none()) {
               const double v = max_memory_mb.cast<double>();
               if (!(v > 0) || !std::isfinite(v)) {
                 throw std::invalid_argument("max_memory_mb must be a number of megabytes > 0 (or None for 10 % of "
                                             "physical RAM), got " + std::string(py::str(max_memory_mb)));
               }
               o.max_memory_bytes = static_cast<std::size_t>(v * 1e6);
               if (o.max_memory_bytes == 0) o.max_memory_bytes = 1;
             }
             o.memory_policy = parse_memory_policy(policy);
             o.max_chunks = max_chunks;
             return std::make_shared<Sampler>(std::move(sensor), o);
           }),
           py::arg("sensor"), py::arg("rate_hz") = 1000.0, py::arg("max_consecutive_failures") = 100,
           py::arg("chunk_samples") = 16384, py::arg("realtime_priority") = 0, py::kw_only(),
           py::arg("max_samples") = 0, py::arg("max_memory_mb") = py::none(), py::arg("memory_policy") = "stop",
           py::arg("max_chunks") = SamplerOptions{}.max_chunks, py::arg("refresh") = false,
           py::arg("refresh_guess_s") = py::none())
      .def_static("check_rate_hz", &Sampler::check_rate_hz, py::arg("rate_hz"),
                  "Raises ValueError unless MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ (the sampler's own check).")
      .def_readonly_static("MIN_RATE_HZ", &Sampler::kMinRateHz)
      .def_readonly_static("MAX_RATE_HZ", &Sampler::kMaxRateHz)
      .def("start", &Sampler::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &Sampler::stop, py::call_guard<py::gil_scoped_release>(),
           "Stops and joins the thread; raises SensorError if it gave up after consecutive failures, "
           "SamplerLimitError if it stopped at its memory cap. A replay that ended is not an error.")
      .def_property_readonly("running", &Sampler::running)
      .def_property_readonly("failed", &Sampler::failed)
      .def_property_readonly("finished", &Sampler::finished,
                             "True once the sensor ran out of data (a replay's end) and sampling ended cleanly.")
      .def_property_readonly("realtime", &Sampler::realtime)
      .def_property_readonly("sensor", &Sampler::sensor)
      .def_property_readonly("rails", &Sampler::rails)
      .def_property_readonly("has_counter", &Sampler::has_counter)
      .def_property_readonly("rate_hz", [](const Sampler& s) { return s.options().rate_hz; })
      .def_property_readonly("refresh", [](const Sampler& s) { return s.options().refresh_lock; },
                             "True: reads each sensor refresh just after it (rate_hz is the fallback polling rate).")
      .def_property_readonly("max_samples", &Sampler::max_samples, "The cap on stored samples.")
      .def_property_readonly("memory_policy", [](const Sampler& s) { return memory_policy_name(s.options().memory_policy); })
      .def_property_readonly("first_index", &Sampler::first_index,
                             "Index of the oldest stored sample (> 0 once the rolling policy dropped some).")
      .def("__len__", &Sampler::size, "Samples recorded so far (the index after the newest).")
      .def("index_at_or_after", &Sampler::index_at_or_after, py::arg("t_ns"),
           "First stored sample index with t_ns >= t (len() if none).")
      .def("add_hold",
           [](Sampler& s, std::optional<std::size_t> from) { return s.add_hold(from ? *from : Sampler::kNoHold); },
           py::arg("index") = py::none(),
           "Rolling memory policy: registers a consumer (a writer) that holds the samples from `index` on "
           "(None: none yet) past the cap, up to as many again as the cap holds; returns its id for hold_from "
           "and remove_hold. At most 8 at once (ValueError past that). No effect under the stop policy.")
      .def("hold_from",
           [](Sampler& s, std::size_t id, std::optional<std::size_t> from) {
             s.hold_from(id, from ? *from : Sampler::kNoHold);
           },
           py::arg("hold"), py::arg("index"),
           "The consumer `hold` (add_hold's id) now needs the samples from `index` on (None: none).")
      .def("remove_hold", &Sampler::remove_hold, py::arg("hold"),
           "The consumer `hold` needs no more samples; its slot is free again.")
      .def("samples",
           [](const Sampler& s, std::size_t since, py::object end_obj) {
             std::size_t end = end_obj.is_none() ? s.size() : std::min(end_obj.cast<std::size_t>(), s.size());
             since = std::max(since, s.first_index());
             const std::size_t n = since < end ? end - since : 0;
             const auto rails = static_cast<py::ssize_t>(s.rails());
             const auto rows = static_cast<py::ssize_t>(n);
             py::array_t<int64_t> t(rows);
             py::array_t<int32_t> read(rows), late(rows);
             py::array_t<double> power({rows, rails});
             py::array_t<double> counter(std::vector<py::ssize_t>{s.has_counter() ? rows : 0, rails});
             std::size_t got, first = since;
             {
               py::gil_scoped_release release;
               got = s.copy(since, since + n, t.mutable_data(), read.mutable_data(), late.mutable_data(),
                            power.mutable_data(), s.has_counter() ? counter.mutable_data() : nullptr, &first);
             }
             if (got != n) {  // the rolling policy dropped the oldest rows meanwhile
               const auto g = static_cast<py::ssize_t>(got);
               t = py::array_t<int64_t>(t[py::slice(0, g, 1)]);
               read = py::array_t<int32_t>(read[py::slice(0, g, 1)]);
               late = py::array_t<int32_t>(late[py::slice(0, g, 1)]);
               power = py::array_t<double>(power[py::slice(0, g, 1)]);
               if (s.has_counter()) counter = py::array_t<double>(counter[py::slice(0, g, 1)]);
             }
             py::dict d;
             d["t_ns"] = t; d["read_ns"] = read; d["lateness_ns"] = late; d["power_w"] = power;
             d["counter_j"] = counter;
             d["begin"] = first;
             d["end"] = first + got;
             return d;
           },
           py::arg("since") = 0, py::arg("end") = py::none(),
           "Copies the stored samples [since, end) recorded so far: t_ns int64, read_ns/lateness_ns int32, "
           "power_w float64 [n, rails], counter_j float64 [n, rails] (0 rows without counters), and the absolute "
           "indices begin/end of the rows. Incremental: pass the previous call's 'end' as since. Rows dropped by "
           "the rolling policy are skipped (begin > since).")
      .def("stats", [](const Sampler& s) {
        SamplerStats st;
        {
          py::gil_scoped_release release;
          st = s.stats();
        }
        return stats_dict(s, st);
      }, "Running statistics in O(1) memory (no samples are copied): rate, lateness/read percentiles, "
         "identical share, effective update interval, errors, memory policy and cap, dropped samples, "
         "counter resets and negative power readings per rail.");
  m.def("physical_memory_bytes", &Sampler::physical_memory_bytes, "Physical RAM in bytes (0 if unknown).");
}

}  // namespace edgepower::bindings
