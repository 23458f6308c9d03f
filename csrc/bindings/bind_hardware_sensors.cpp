// Hardware and file sensors: Jetson INA3221 (hwmon, iio), generic hwmon, RAPL, NVML, replay and
// the CPU estimate. Constructors never raise for a missing device (null objects: check
// info.available / info.reason); they raise ValueError only for bad arguments.
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "core/sensors/cpu_estimate.hpp"
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

  py::class_<CpuEstimateSensor, Sensor, std::shared_ptr<CpuEstimateSensor>>(
      m, "CpuEstimateSensor",
      "ESTIMATE: idle_w + (max_w - idle_w) x CPU utilisation from <root>/proc/stat; info.estimated is True.")
      .def(py::init([](const std::string& root, double idle_w, double max_w) {
             CpuEstimateOptions o;
             o.idle_w = idle_w;
             o.max_w = max_w;
             return std::make_shared<CpuEstimateSensor>(root, o);
           }),
           py::arg("root") = "/", py::arg("idle_w") = CpuEstimateOptions{}.idle_w,
           py::arg("max_w") = CpuEstimateOptions{}.max_w, nogil)
      .def_property_readonly("utilisation", &CpuEstimateSensor::utilisation);
}

}  // namespace edgepower::bindings
