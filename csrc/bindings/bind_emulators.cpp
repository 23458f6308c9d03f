#include <pybind11/stl.h>

#include "bindings.hpp"
#include "testing/ina3221.hpp"
#include "testing/nvml_like.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

void register_emulators(py::module_& m) {
  py::class_<Ina3221Registers>(m, "Ina3221Registers", "One INA3221 channel's registers as the hwmon files show them.")
      .def_readonly("bus_mv", &Ina3221Registers::bus_mv)
      .def_readonly("shunt_uv", &Ina3221Registers::shunt_uv)
      .def_readonly("current_ma", &Ina3221Registers::current_ma)
      .def_readonly("updates", &Ina3221Registers::updates)
      .def_readonly("last_update_ns", &Ina3221Registers::last_update_ns);

  py::class_<Ina3221Emulator, std::shared_ptr<Ina3221Emulator>>(
      m, "Ina3221Emulator",
      "Software INA3221 that maintains a jetson-hwmon sysfs tree under root (see edgepower.testing).")
      .def(py::init([](std::shared_ptr<SyntheticSensor> source, std::string root, std::vector<std::string> labels,
                       std::vector<double> scales, double shunt_ohm, double bus_v, double bus_conversion_s,
                       double shunt_conversion_s, int averages, double noise_w, uint64_t seed, std::string device,
                       std::string hwmon, bool interval_includes_averages) {
             Ina3221Config c;
             c.root = std::move(root);
             c.labels = std::move(labels);
             c.scales = std::move(scales);
             c.shunt_ohm = shunt_ohm;
             c.bus_v = bus_v;
             c.bus_conversion_s = bus_conversion_s;
             c.shunt_conversion_s = shunt_conversion_s;
             c.averages = averages;
             c.noise_w = noise_w;
             c.seed = seed;
             c.device = std::move(device);
             c.hwmon = std::move(hwmon);
             c.interval_includes_averages = interval_includes_averages;
             return std::make_shared<Ina3221Emulator>(std::move(source), std::move(c));
           }),
           py::arg("source"), py::arg("root"),
           py::arg("labels") = std::vector<std::string>{"VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"},
           py::arg("scales") = std::vector<double>{1.0, 0.6, 0.25}, py::arg("shunt_ohm") = 0.005,
           py::arg("bus_v") = 5.0, py::arg("bus_conversion_s") = 1.1e-3, py::arg("shunt_conversion_s") = 1.1e-3,
           py::arg("averages") = 1, py::arg("noise_w") = 0.0, py::arg("seed") = 1, py::arg("device") = "1-0040",
           py::arg("hwmon") = "hwmon0", py::arg("interval_includes_averages") = false)
      .def("start", &Ina3221Emulator::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &Ina3221Emulator::stop, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("running", &Ina3221Emulator::running)
      .def("advance_to", &Ina3221Emulator::advance_to, py::arg("t_ns"), py::arg("origin_ns") = -1,
           py::call_guard<py::gil_scoped_release>())
      .def("registers", &Ina3221Emulator::registers, py::arg("channel"))
      .def_property_readonly("hwmon_dir", &Ina3221Emulator::hwmon_dir)
      .def_property_readonly("refresh_s", &Ina3221Emulator::refresh_s)
      .def_property_readonly("filter_tau_s", &Ina3221Emulator::filter_tau_s)
      .def_property_readonly("conversion_lag_s", &Ina3221Emulator::conversion_lag_s)
      .def_property_readonly("averages", [](const Ina3221Emulator& e) { return e.config().averages; })
      .def_property_readonly("bus_conversion_s", [](const Ina3221Emulator& e) { return e.config().bus_conversion_s; })
      .def_property_readonly("shunt_conversion_s",
                             [](const Ina3221Emulator& e) { return e.config().shunt_conversion_s; })
      .def_property_readonly("labels", [](const Ina3221Emulator& e) { return e.config().labels; })
      .def_property_readonly("conversions", &Ina3221Emulator::conversions)
      .def("refresh_writes", &Ina3221Emulator::refresh_writes,
           "When each shunt register refresh (any channel) began to be visible in the files (CLOCK_MONOTONIC ns "
           "just before the write), oldest first: the ground truth of how soon a reader saw each refresh.")
      .def("refresh_instants", &Ina3221Emulator::refresh_instants, py::arg("t0_ns"), py::arg("t1_ns"),
           py::arg("channel") = -1,
           "The exact instants (CLOCK_MONOTONIC ns) at which channel's shunt register (-1: any channel's) "
           "refreshed in [t0_ns, t1_ns), in time order: the chip's own schedule.")
      .def("register_reads", &Ina3221Emulator::register_reads,
           "When each in-process read (Ina3221RegisterSensor) saw the registers, CLOCK_MONOTONIC ns, oldest first.")
      .def("true_power_w", &Ina3221Emulator::true_power_w, py::arg("channel"), py::arg("t_ns"))
      .def("true_energy_j", &Ina3221Emulator::true_energy_j, py::arg("channel"), py::arg("t0_ns"), py::arg("t1_ns"));

  py::class_<Ina3221RegisterSensor, Sensor, std::shared_ptr<Ina3221RegisterSensor>>(
      m, "Ina3221RegisterSensor",
      "The emulated INA3221 read in process: each read computes the registers for its own instant, so the chip's "
      "refresh instants are exact (Ina3221Emulator.refresh_instants). Use it or the emulator's files, not both.")
      .def(py::init<std::shared_ptr<Ina3221Emulator>>(), py::arg("emulator"))
      .def_property_readonly("emulator", &Ina3221RegisterSensor::emulator);

  auto opts = [](double period_s, double window_s, double noise_w, double phase_s, uint64_t seed, int64_t origin) {
    NvmlLikeOptions o;
    o.period_s = period_s;
    o.window_s = window_s;
    o.noise_w = noise_w;
    o.phase_s = phase_s;
    o.seed = seed;
    o.origin_ns = origin;
    return o;
  };
  py::class_<NvmlLikeSensor, Sensor, std::shared_ptr<NvmlLikeSensor>>(m, "NvmlLikeSensor")
      .def("last_update_ns", &NvmlLikeSensor::last_update_ns, py::arg("t_ns"))
      .def_property_readonly("origin_ns", &NvmlLikeSensor::origin_ns)
      .def_property_readonly("period_s", &NvmlLikeSensor::period_s)
      .def("true_energy_j", &NvmlLikeSensor::true_energy_j, py::arg("t0_ns"), py::arg("t1_ns"));
  py::class_<NvmlCounterEmulator, NvmlLikeSensor, std::shared_ptr<NvmlCounterEmulator>>(m, "NvmlCounterEmulator")
      .def(py::init([opts](std::shared_ptr<SyntheticSensor> source, double period_s, double phase_s, int64_t origin) {
             return std::make_shared<NvmlCounterEmulator>(std::move(source), opts(period_s, period_s, 0, phase_s, 1, origin));
           }),
           py::arg("source"), py::arg("period_s") = 0.1, py::arg("phase_s") = 0.0, py::arg("origin_ns") = -1);
  py::class_<NvmlInstantEmulator, NvmlLikeSensor, std::shared_ptr<NvmlInstantEmulator>>(m, "NvmlInstantEmulator")
      .def(py::init([opts](std::shared_ptr<SyntheticSensor> source, double period_s, double window_s, double noise_w,
                           double phase_s, uint64_t seed, int64_t origin) {
             return std::make_shared<NvmlInstantEmulator>(std::move(source),
                                                          opts(period_s, window_s, noise_w, phase_s, seed, origin));
           }),
           py::arg("source"), py::arg("period_s") = 0.1, py::arg("window_s") = 0.025, py::arg("noise_w") = 0.0,
           py::arg("phase_s") = 0.0, py::arg("seed") = 1, py::arg("origin_ns") = -1)
      .def("observed_w", &NvmlInstantEmulator::observed_w, py::arg("t_ns"));
}

}  // namespace edgepower::bindings
