#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "edgepower native core: sampler thread, timeline, energy integration, sensors";
  using namespace edgepower::bindings;
  register_clock(m);
  // Timeline before the sensors: RegionSensor's signatures name it (a type registered later
  // shows up as its C++ name in the docstrings, and so in the generated _core.pyi).
  register_timeline(m);
  register_sensors(m);
  register_hardware_sensors(m);
  register_sampler(m);
  register_energy(m);
  register_deconv(m);
  register_edgeprofiler(m);
  register_emulators(m);
}
