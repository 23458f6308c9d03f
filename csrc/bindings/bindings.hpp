#pragma once
// One register_<area>() per bind_<area>.cpp; module.cpp only calls them.
#include <pybind11/pybind11.h>

namespace edgepower::bindings {
void register_clock(pybind11::module_& m);
void register_sensors(pybind11::module_& m);
void register_hardware_sensors(pybind11::module_& m);
void register_timeline(pybind11::module_& m);
void register_sampler(pybind11::module_& m);
void register_energy(pybind11::module_& m);
void register_deconv(pybind11::module_& m);
void register_edgeprofiler(pybind11::module_& m);
void register_emulators(pybind11::module_& m);
}  // namespace edgepower::bindings
