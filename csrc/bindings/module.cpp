#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "edgepower native core: sampler thread, timeline, energy integration, sensors";
  using namespace edgepower::bindings;
  register_clock(m);
  register_sensors(m);
  register_hardware_sensors(m);
  register_timeline(m);
  register_sampler(m);
  register_energy(m);
  register_edgeprofiler(m);
  register_emulators(m);
}
