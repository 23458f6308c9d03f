#include "native_runner.hpp"

#include <c10/core/DeviceType.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>

#include <algorithm>
#include <set>
#include <stdexcept>

#include "../core/clock.hpp"

namespace edgepower::torchlib {

NativeRunner::NativeRunner(const std::string& path, const std::string& kind) : path_(path), kind_(kind) {
  try {
    if (kind == "aoti") {
      aoti_ = std::make_unique<torch::inductor::AOTIModelPackageLoader>(path);
    } else if (kind == "torchscript") {
      script_ = std::make_unique<torch::jit::Module>(torch::jit::load(path));
      script_->eval();
    } else {
      throw std::invalid_argument("NativeRunner: kind must be 'aoti' (an AOTInductor .pt2 package) or "
                                  "'torchscript' (a torch.jit.save file), got '" + kind + "'");
    }
  } catch (const std::invalid_argument&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error("NativeRunner: cannot load " + kind + " file " + path + ": " + e.what());
  }
}

NativeRunner::~NativeRunner() = default;

void NativeRunner::call(const std::vector<at::Tensor>& inputs) {
  if (aoti_) {
    (void)aoti_->run(inputs);
  } else {
    std::vector<c10::IValue> args(inputs.begin(), inputs.end());
    (void)script_->forward(std::move(args));
  }
}

std::vector<at::Tensor> NativeRunner::run(const std::vector<at::Tensor>& inputs) {
  c10::InferenceMode guard;
  if (aoti_) return aoti_->run(inputs);
  std::vector<c10::IValue> args(inputs.begin(), inputs.end());
  c10::IValue out = script_->forward(std::move(args));
  std::vector<at::Tensor> flat;
  std::vector<c10::IValue> todo{out};
  while (!todo.empty()) {  // depth-first, in order
    c10::IValue v = todo.back();
    todo.pop_back();
    if (v.isTensor()) {
      flat.push_back(v.toTensor());
    } else if (v.isTuple()) {
      const auto& el = v.toTupleRef().elements();
      for (std::size_t i = el.size(); i-- > 0;) todo.push_back(el[i]);
    } else if (v.isList()) {
      const auto l = v.toListRef();
      for (std::size_t i = l.size(); i-- > 0;) todo.push_back(l[i]);
    }
  }
  return flat;
}

bool NativeRunner::synchronize(const std::vector<at::Tensor>& inputs) const {
  std::set<c10::DeviceIndex> cuda;
  for (const auto& t : inputs) {
    if (t.defined() && t.is_cuda()) cuda.insert(t.device().index());
  }
  for (auto index : cuda) {
    // Through c10's device-guard registry: no link against the CUDA libraries.
    c10::impl::getDeviceGuardImpl(c10::DeviceType::CUDA)->synchronizeDevice(index);
  }
  return !cuda.empty();
}

std::vector<int64_t> NativeRunner::window(const std::vector<at::Tensor>& inputs, int64_t warmup, int64_t min_repeats,
                                          int64_t max_repeats, int64_t target_ns) {
  if (warmup < 0 || target_ns < 0) {
    throw std::invalid_argument("NativeRunner.window: warmup and target_ns must be >= 0");
  }
  if (min_repeats < 1 || max_repeats < min_repeats) {
    throw std::invalid_argument("NativeRunner.window: need 1 <= min_repeats <= max_repeats, got min_repeats=" +
                                std::to_string(min_repeats) + ", max_repeats=" + std::to_string(max_repeats));
  }
  c10::InferenceMode guard;
  for (int64_t i = 0; i < warmup; ++i) call(inputs);
  // Preallocated and left uninitialised: a large cap costs address space, not time (pages are
  // touched as stamps are written, one page fault per 512 calls).
  std::unique_ptr<int64_t[]> stamps(new int64_t[static_cast<std::size_t>(max_repeats) + 1]);
  synchronize(inputs);
  const int64_t t0 = now_ns();
  stamps[0] = t0;
  const int64_t deadline = t0 + target_ns;
  int64_t n = 0;
  while (n < max_repeats) {
    call(inputs);
    ++n;
    const int64_t t = now_ns();
    stamps[static_cast<std::size_t>(n)] = t;
    if (n >= min_repeats && t >= deadline) break;
  }
  if (synchronize(inputs)) {
    // The window ends when the device is done, not at the last launch.
    stamps[static_cast<std::size_t>(n)] = std::max(stamps[static_cast<std::size_t>(n)], now_ns());
  }
  return std::vector<int64_t>(stamps.get(), stamps.get() + n + 1);
}

}  // namespace edgepower::torchlib
