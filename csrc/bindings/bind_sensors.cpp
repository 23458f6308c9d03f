#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "core/sensors/synthetic.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

namespace {
SyntheticOptions options(double refresh_s, double noise_w, uint64_t seed, bool counter,
                         double counter_range_j, int64_t origin_ns, bool power = true) {
  SyntheticOptions o;
  o.power = power;
  o.refresh_s = refresh_s;
  o.noise_w = noise_w;
  o.seed = seed;
  o.counter = counter;
  o.counter_range_j = counter_range_j;
  o.origin_ns = origin_ns;
  return o;
}

py::dict info_dict(const SensorInfo& i) {
  py::dict d;
  d["kind"] = i.kind;
  d["description"] = i.description;
  d["rails"] = i.rails;
  d["total_rail"] = i.total_rail;
  d["has_power"] = i.has_power;
  d["has_counter"] = i.has_counter;
  d["power_derived"] = i.power_derived;
  d["counter_range_j"] = i.counter_range_j;
  d["max_power_w"] = i.max_power_w;
  d["update_interval_s"] = i.update_interval_s;
  d["estimated"] = i.estimated;
  d["available"] = i.available;
  d["reason"] = i.reason;
  d["details"] = i.details;
  return d;
}

// Keyword arguments shared by the synthetic sensors.
#define EDGEPOWER_SYNTHETIC_KWARGS                                                                   \
  py::arg("refresh_s") = 0.0, py::arg("noise_w") = 0.0, py::arg("seed") = 1, py::arg("counter") = false, \
      py::arg("counter_range_j") = 0.0, py::arg("origin_ns") = -1
}  // namespace

void register_sensors(py::module_& m) {
  // Registered later is tried first: the subclass goes second.
  auto& sensor_error = py::register_exception<SensorError>(m, "SensorError", PyExc_RuntimeError);
  py::register_exception<SensorUnavailable>(m, "SensorUnavailable", sensor_error.ptr());
  py::register_exception<SensorExhausted>(m, "SensorExhausted", sensor_error.ptr());

  py::class_<SensorInfo>(m, "SensorInfo", "What a sensor measures and how (provenance).")
      .def_readonly("kind", &SensorInfo::kind)
      .def_readonly("description", &SensorInfo::description)
      .def_readonly("rails", &SensorInfo::rails)
      .def_readonly("total_rail", &SensorInfo::total_rail)
      .def_readonly("has_power", &SensorInfo::has_power)
      .def_readonly("has_counter", &SensorInfo::has_counter)
      .def_readonly("power_derived", &SensorInfo::power_derived)
      .def_readonly("counter_range_j", &SensorInfo::counter_range_j)
      .def_readonly("max_power_w", &SensorInfo::max_power_w,
                    "Physical bound on one rail's power (W; 0 = none): a larger counter step is a reset")
      .def_readonly("update_interval_s", &SensorInfo::update_interval_s)
      .def_readonly("estimated", &SensorInfo::estimated)
      .def_readonly("available", &SensorInfo::available)
      .def_readonly("reason", &SensorInfo::reason)
      .def_readonly("details", &SensorInfo::details)
      .def("to_dict", &info_dict)
      .def("__repr__", [](const SensorInfo& i) {
        return "<SensorInfo kind='" + i.kind + "' rails=" + std::to_string(i.rails.size()) +
               (i.available ? "" : " unavailable") + ">";
      });

  py::class_<Sensor, SensorPtr>(m, "Sensor", "A power source read by the sampler thread.")
      .def_property_readonly("info", &Sensor::info, py::return_value_policy::reference_internal)
      .def_property_readonly("num_rails", &Sensor::num_rails)
      .def("require_available", &Sensor::require_available,
           "Raises SensorUnavailable with the reason if this sensor cannot be used here.")
      .def("read",
           [](Sensor& s) {
             py::array_t<double> p(s.num_rails()), c(s.num_rails());
             double* pp = p.mutable_data();
             double* cp = c.mutable_data();
             for (std::size_t i = 0; i < s.num_rails(); ++i) pp[i] = cp[i] = std::numeric_limits<double>::quiet_NaN();
             {
               py::gil_scoped_release release;
               s.read(pp, cp);
             }
             return py::make_tuple(p, c);
           },
           "Reads once: (power_w per rail, counter_j per rail; NaN where not provided).");

  py::class_<SyntheticSensor, Sensor, std::shared_ptr<SyntheticSensor>>(m, "SyntheticSensor")
      .def_property_readonly("origin_ns", &SyntheticSensor::origin_ns)
      .def("power_at",
           [](SyntheticSensor& s, int64_t t) {
             std::vector<double> out(s.num_rails());
             s.power_at(t, out.data());
             return out;
           },
           py::arg("t_ns"), "True power per rail at t_ns (no noise, no hold).")
      .def("energy_at",
           [](SyntheticSensor& s, int64_t t) {
             std::vector<double> out(s.num_rails());
             s.energy_at(t, out.data());
             return out;
           },
           py::arg("t_ns"), "True energy per rail from origin to t_ns (J).");

  py::class_<ConstantSensor, SyntheticSensor, std::shared_ptr<ConstantSensor>>(m, "ConstantSensor")
      .def(py::init([](std::vector<double> watts, std::vector<std::string> rails, double refresh_s, double noise_w,
                       uint64_t seed, bool counter, double range, int64_t origin, bool power) {
             return std::make_shared<ConstantSensor>(std::move(watts),
                                                     options(refresh_s, noise_w, seed, counter, range, origin, power),
                                                     std::move(rails));
           }),
           py::arg("watts"), py::arg("rails") = std::vector<std::string>{}, EDGEPOWER_SYNTHETIC_KWARGS,
           py::arg("power") = true, "power=False with counter=True: a counter-only sensor (power_w NaN).");

  py::class_<SquareSensor, SyntheticSensor, std::shared_ptr<SquareSensor>>(m, "SquareSensor")
      .def(py::init([](double low, double high, double period_s, double duty, double refresh_s, double noise_w,
                       uint64_t seed, bool counter, double range, int64_t origin) {
             return std::make_shared<SquareSensor>(low, high, period_s, duty,
                                                   options(refresh_s, noise_w, seed, counter, range, origin));
           }),
           py::arg("low_w"), py::arg("high_w"), py::arg("period_s"), py::arg("duty") = 0.5,
           EDGEPOWER_SYNTHETIC_KWARGS);

  py::class_<PiecewiseSensor, SyntheticSensor, std::shared_ptr<PiecewiseSensor>>(m, "PiecewiseSensor")
      .def(py::init([](std::vector<double> times_s, std::vector<double> watts, bool step, double refresh_s,
                       double noise_w, uint64_t seed, bool counter, double range, int64_t origin) {
             return std::make_shared<PiecewiseSensor>(std::move(times_s), std::move(watts), step,
                                                      options(refresh_s, noise_w, seed, counter, range, origin));
           }),
           py::arg("times_s"), py::arg("watts"), py::arg("step") = false, EDGEPOWER_SYNTHETIC_KWARGS);

  py::class_<RegionSensor, SyntheticSensor, std::shared_ptr<RegionSensor>>(m, "RegionSensor")
      .def(py::init([](TimelinePtr timeline, std::map<std::string, double> levels, double idle_w, double refresh_s,
                       double noise_w, uint64_t seed, bool counter, double range, int64_t origin) {
             return std::make_shared<RegionSensor>(std::move(timeline), std::move(levels), idle_w,
                                                   options(refresh_s, noise_w, seed, counter, range, origin));
           }),
           py::arg("timeline"), py::arg("levels_w"), py::arg("idle_w") = 0.0, EDGEPOWER_SYNTHETIC_KWARGS)
      .def_property_readonly("levels_w", &RegionSensor::levels)
      .def_property_readonly("timeline", &RegionSensor::timeline);

  py::class_<FailingSensor, Sensor, std::shared_ptr<FailingSensor>>(m, "FailingSensor")
      .def(py::init<SensorPtr, long, long, std::string>(), py::arg("inner"), py::arg("ok_reads"),
           py::arg("fail_reads"), py::arg("message") = "injected failure");
}

}  // namespace edgepower::bindings
