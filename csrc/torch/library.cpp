// The torch op library edgepower._torch: TORCH_LIBRARY(edgepower) with two custom classes and
// two ops, no pybind11 and no Python headers (torch ships its own pybind11 and casters in
// libtorch_python; the core's pybind11 must not meet them). Python loads this library with
// torch.ops.load_library and uses it through torch.classes.edgepower / torch.ops.edgepower
// (python/edgepower/torch_native.py).
//
//   torch.ops.edgepower.build_info() -> [torch version, CUDA version, C++11 ABI flag, compiler]
//   torch.ops.edgepower.now_ns() -> CLOCK_MONOTONIC ns (the clock of every stamp)
//   torch.classes.edgepower.OpObserver(capacity_events, max_depth)
//   torch.classes.edgepower.NativeRunner(path, kind)
#include <ATen/ATen.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <cstring>

#include "../core/clock.hpp"
#include "edgepower_torch/build_info.hpp"
#include "native_runner.hpp"
#include "op_observer.hpp"

namespace edgepower::torchlib {
namespace {

template <typename T>
at::Tensor to_tensor(const std::vector<T>& v, at::ScalarType type) {
  at::Tensor t = at::empty({static_cast<int64_t>(v.size())}, at::TensorOptions().dtype(type));
  if (!v.empty()) std::memcpy(t.data_ptr(), v.data(), v.size() * sizeof(T));
  return t;
}

struct ObserverHolder : torch::CustomClassHolder {
  ObserverHolder(int64_t capacity_events, int64_t max_depth) : obs(capacity_events, max_depth) {}
  OpObserver obs;
};

struct RunnerHolder : torch::CustomClassHolder {
  RunnerHolder(const std::string& path, const std::string& kind) : runner(path, kind) {}
  NativeRunner runner;
};

std::vector<std::string> build_info() {
  return {EDGEPOWER_TORCH_BUILD_TORCH_VERSION, EDGEPOWER_TORCH_BUILD_CUDA_VERSION,
          std::to_string(EDGEPOWER_TORCH_BUILD_CXX11_ABI), EDGEPOWER_TORCH_BUILD_COMPILER};
}

int64_t clock_now_ns() { return now_ns(); }

}  // namespace
}  // namespace edgepower::torchlib

TORCH_LIBRARY(edgepower, m) {
  using edgepower::torchlib::ObserverHolder;
  using edgepower::torchlib::RunnerHolder;
  using edgepower::torchlib::to_tensor;
  m.def("build_info() -> str[]", &edgepower::torchlib::build_info);
  m.def("now_ns() -> int", &edgepower::torchlib::clock_now_ns);

  m.class_<ObserverHolder>("OpObserver")
      .def(torch::init<int64_t, int64_t>())
      .def("start", [](const c10::intrusive_ptr<ObserverHolder>& self) { self->obs.start(); })
      .def("stop", [](const c10::intrusive_ptr<ObserverHolder>& self) { self->obs.stop(); })
      .def("active", [](const c10::intrusive_ptr<ObserverHolder>& self) { return self->obs.active(); })
      .def("size", [](const c10::intrusive_ptr<ObserverHolder>& self) { return self->obs.size(); })
      .def("capacity", [](const c10::intrusive_ptr<ObserverHolder>& self) { return self->obs.capacity(); })
      .def("dropped", [](const c10::intrusive_ptr<ObserverHolder>& self) { return self->obs.dropped(); })
      .def("sessions", [](const c10::intrusive_ptr<ObserverHolder>& self) { return self->obs.sessions(); })
      .def("clear", [](const c10::intrusive_ptr<ObserverHolder>& self) { self->obs.clear(); })
      .def("names", [](const c10::intrusive_ptr<ObserverHolder>& self) { return self->obs.names(); })
      .def("events",
           [](const c10::intrusive_ptr<ObserverHolder>& self, int64_t begin) {
             auto e = self->obs.events(begin);
             return std::vector<at::Tensor>{to_tensor(e.t_ns, at::kLong), to_tensor(e.op, at::kInt),
                                            to_tensor(e.kind, at::kByte), to_tensor(e.depth, at::kShort)};
           });

  m.class_<RunnerHolder>("NativeRunner")
      .def(torch::init<std::string, std::string>())
      .def("kind", [](const c10::intrusive_ptr<RunnerHolder>& self) { return self->runner.kind(); })
      .def("path", [](const c10::intrusive_ptr<RunnerHolder>& self) { return self->runner.path(); })
      .def("run", [](const c10::intrusive_ptr<RunnerHolder>& self,
                     std::vector<at::Tensor> inputs) { return self->runner.run(inputs); })
      .def("window", [](const c10::intrusive_ptr<RunnerHolder>& self, std::vector<at::Tensor> inputs, int64_t warmup,
                        int64_t min_repeats, int64_t max_repeats, int64_t target_ns) {
        return to_tensor(self->runner.window(inputs, warmup, min_repeats, max_repeats, target_ns), at::kLong);
      });
}
