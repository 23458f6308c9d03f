#include "bindings.hpp"
#include "core/clock.hpp"

namespace edgepower::bindings {

void register_clock(pybind11::module_& m) {
  m.def("now_ns", &edgepower::now_ns,
        "Nanoseconds of CLOCK_MONOTONIC: the clock of every sample and mark, the same as "
        "time.monotonic_ns().");
}

}  // namespace edgepower::bindings
