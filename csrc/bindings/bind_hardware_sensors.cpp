// Hardware and file sensors: Jetson INA3221 (hwmon, iio), generic hwmon, RAPL, NVML, replay and
// the CPU estimates (per-process and system-wide). Constructors never raise for a missing device (null objects: check
// info.available / info.reason); they raise ValueError only for bad arguments.
#include <pybind11/stl.h>

#include <optional>

#include "bindings.hpp"
#include "core/sensors/cpu_estimate.hpp"
#include "core/sensors/cpu_power.hpp"
#include "core/sensors/cpu_process.hpp"
#include "core/sensors/hwmon.hpp"
#include "core/sensors/jetson_hwmon.hpp"
#include "core/sensors/jetson_iio.hpp"
#include "core/sensors/nvml.hpp"
#include "core/sensors/rapl.hpp"
#include "core/sensors/replay.hpp"

namespace py = pybind11;

namespace edgepower::bindings {

void register_hardware_sensors(py::module_& m) {
  // Discovery reads sysfs and may dlopen NVML: release the GIL meanwhile.
  const auto nogil = py::call_guard<py::gil_scoped_release>();

  py::class_<JetsonHwmonSensor, Sensor, std::shared_ptr<JetsonHwmonSensor>>(
      m, "JetsonHwmonSensor",
      "Jetson INA3221 via hwmon (JetPack 5+): in<i>_input mV x curr<i>_input mA per labelled rail; "
      "NC and sum channels skipped; total VDD_IN, else POM_5V_IN, else the sum.")
      .def(py::init<const std::string&>(), py::arg("root") = "/", nogil);

  py::class_<JetsonIioSensor, Sensor, std::shared_ptr<JetsonIioSensor>>(
      m, "JetsonIioSensor", "Jetson INA3221 via the legacy ina3221x IIO driver (JetPack 4): in_power<i>_input mW.")
      .def(py::init<const std::string&>(), py::arg("root") = "/", nogil);

  py::class_<HwmonSensor, Sensor, std::shared_ptr<HwmonSensor>>(
      m, "HwmonSensor", "Generic hwmon power<i>_input (uW) or energy<i>_input (uJ, counters with derived power).")
      .def(py::init([](const std::string& root, const std::string& name, const std::string& mode) {
             HwmonOptions o;
             o.name = name;
             o.mode = mode;
             return std::make_shared<HwmonSensor>(root, o);
           }),
           py::arg("root") = "/", py::arg("name") = "", py::arg("mode") = "auto", nogil);

  py::class_<RaplSensor, Sensor, std::shared_ptr<RaplSensor>>(
      m, "RaplSensor", "RAPL energy counters via powercap (energy_uj, uJ); power derived from the counters.")
      .def(py::init<const std::string&>(), py::arg("root") = "/", nogil);

  py::class_<NvmlSensor, Sensor, std::shared_ptr<NvmlSensor>>(
      m, "NvmlSensor",
      "NVIDIA GPU via NVML loaded with dlopen (library: argument, else $EDGEPOWER_NVML_LIBRARY, else "
      "libnvidia-ml.so.1). Energy counter where supported; power from NVML_FI_DEV_POWER_INSTANT, else the "
      "counter, else nvmlDeviceGetPowerUsage (a 1 s average, flagged in info.details).")
      .def(py::init([](unsigned index, const std::string& library) {
             NvmlOptions o;
             o.index = index;
             o.library = library;
             return std::make_shared<NvmlSensor>(o);
           }),
           py::arg("index") = 0, py::arg("library") = "", nogil)
      .def_static("library_path", &NvmlSensor::library_path, py::arg("library") = "",
                  "The NVML library path that would be loaded.");

  py::class_<ReplaySensor, Sensor, std::shared_ptr<ReplaySensor>>(
      m, "ReplaySensor",
      "Plays an edgepower trace CSV or an EdgeProfiler power log back in real time from the first read. "
      "After the end, reads raise SensorExhausted and a sampler ends cleanly (no read error); with "
      "loop=True it starts over, counters rising across laps.")
      .def(py::init([](const std::string& path, double speed, bool loop) {
             ReplayOptions o;
             o.path = path;
             o.speed = speed;
             o.loop = loop;
             return std::make_shared<ReplaySensor>(o);
           }),
           py::arg("path"), py::arg("speed") = 1.0, py::arg("loop") = false, nogil)
      .def_property_readonly("loop", &ReplaySensor::loop)
      .def_property_readonly("num_samples", &ReplaySensor::num_samples)
      .def_property_readonly("span_s", &ReplaySensor::span_s);

  // CPU estimates: figures from the CPU table (csrc/core/sensors/cpu_power.hpp), each overridable.
  const auto overrides = [](std::optional<double> idle_w, std::optional<double> max_w, int cpus) {
    CpuPowerOverrides o;
    if (idle_w) o.idle_w = *idle_w;
    if (max_w) o.max_w = *max_w;
    o.cpus = cpus;
    return o;
  };
  m.def(
      "cpu_power_figures",
      [overrides](const std::string& root, std::optional<double> idle_w, std::optional<double> max_w, int cpus) {
        const CpuPowerFigures f = cpu_power_figures(root, overrides(idle_w, max_w, cpus));
        py::dict d;
        d["idle_w"] = f.idle_w;
        d["max_w"] = f.max_w;
        d["part_cpus"] = f.part_cpus;
        d["online_cpus"] = f.online_cpus;
        d["per_cpu_w"] = f.per_cpu_w();
        d["idle_share_w"] = f.idle_share_w();
        d["model"] = f.model;
        d["matched"] = f.matched;
        d["source"] = f.source;
        return d;
      },
      py::arg("root") = "/", py::arg("idle_w") = py::none(), py::arg("max_w") = py::none(), py::arg("cpus") = 0,
      "The CPU power figures the CPU estimates use (dict: idle_w, max_w, part_cpus, online_cpus, per_cpu_w, "
      "idle_share_w, model, matched, source), from <root>/proc/cpuinfo against a table of CPUs with cited TDPs, "
      "else the defaults; ValueError for bad overrides.");

  py::class_<CpuEstimateSensor, Sensor, std::shared_ptr<CpuEstimateSensor>>(
      m, "CpuEstimateSensor",
      "ESTIMATE, system-wide: idle + (max - idle) x CPU utilisation of every process from <root>/proc/stat; "
      "info.estimated is True. Figures as cpu_power_figures().")
      .def(py::init([overrides](const std::string& root, std::optional<double> idle_w, std::optional<double> max_w, int cpus) {
             const CpuPowerOverrides f = overrides(idle_w, max_w, cpus);
             return std::make_shared<CpuEstimateSensor>(root, CpuEstimateOptions{f.idle_w, f.max_w, f.cpus});
           }),
           py::arg("root") = "/", py::arg("idle_w") = py::none(), py::arg("max_w") = py::none(), py::arg("cpus") = 0, nogil)
      .def_property_readonly("utilisation", &CpuEstimateSensor::utilisation);

  py::class_<CpuProcessSensor, Sensor, std::shared_ptr<CpuProcessSensor>>(
      m, "CpuProcessSensor",
      "ESTIMATE of this process's CPU energy: an energy counter (J) = idle share x elapsed time + W per busy CPU "
      "x (process CPU time - the reading thread's CPU time); power derived from it. Other processes do not "
      "change it. info.estimated is True. Figures as cpu_power_figures().")
      .def(py::init([overrides](const std::string& root, std::optional<double> idle_w, std::optional<double> max_w, int cpus,
                                double power_window_s) {
             CpuProcessOptions o;
             o.figures = overrides(idle_w, max_w, cpus);
             o.power_window_s = power_window_s;
             return std::make_shared<CpuProcessSensor>(root, o);
           }),
           py::arg("root") = "/", py::arg("idle_w") = py::none(), py::arg("max_w") = py::none(), py::arg("cpus") = 0,
           py::arg("power_window_s") = CpuProcessOptions{}.power_window_s, nogil)
      .def_property_readonly("per_cpu_w", [](const CpuProcessSensor& s) { return s.figures().per_cpu_w(); },
                             "W that one busy logical CPU of this process adds")
      .def_property_readonly("idle_share_w", [](const CpuProcessSensor& s) { return s.figures().idle_share_w(); },
                             "W of idle power in the counter")
      .def_property_readonly("counted_cpu_s", &CpuProcessSensor::counted_cpu_s,
                             "CPU seconds counted at the last read (process minus the readers' own)")
      .def_property_readonly("excluded_cpu_s", &CpuProcessSensor::excluded_cpu_s,
                             "CPU seconds of the reading threads, left out, at the last read");
}

}  // namespace edgepower::bindings
