#pragma once
// Native isolated runner: calls one compiled layer repeatedly from C++ and stamps every call
// on CLOCK_MONOTONIC (ns), so that a layer far shorter than Python's per-call overhead is
// measured without it. The layer is an AOTInductor package (.pt2, from torch.export +
// torch._inductor.aoti_compile_and_package) or a TorchScript file (torch.jit.save).
//
// Calls run under c10::InferenceMode. On CUDA the device is synchronised before the first
// stamp and after the last call; the stamps in between are launch times.
//
// Thread-safety: one runner is used by one thread at a time (the underlying AOTInductor
// container and TorchScript module are not re-entrant for our purposes).
#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::inductor {
class AOTIModelPackageLoader;
}
namespace torch::jit {
struct Module;
}

namespace edgepower::torchlib {

class NativeRunner {
 public:
  /// kind: "aoti" (an AOTInductor .pt2 package) or "torchscript" (a torch.jit.save file).
  /// Throws std::invalid_argument for another kind and std::runtime_error (with the path and
  /// torch's message) when the file cannot be loaded.
  NativeRunner(const std::string& path, const std::string& kind);
  ~NativeRunner();
  NativeRunner(const NativeRunner&) = delete;
  NativeRunner& operator=(const NativeRunner&) = delete;

  /// One call; the outputs, flattened.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);

  /// `warmup` unstamped calls, then calls until at least `min_repeats` were made and
  /// `target_ns` have passed since the first stamp, at most `max_repeats` (target_ns = 0 and
  /// min = max: exactly that many). Returns n+1 stamps for n calls made: stamps[0] before the
  /// first call, stamps[i] after call i (on CUDA the last one after the closing
  /// synchronisation). Throws std::invalid_argument for counts < 0, min < 1 or
  /// max < min. The stamps are preallocated (max_repeats + 1, uninitialised), so the loop
  /// allocates only what the layer itself allocates.
  std::vector<int64_t> window(const std::vector<at::Tensor>& inputs, int64_t warmup, int64_t min_repeats,
                              int64_t max_repeats, int64_t target_ns);

  const std::string& kind() const { return kind_; }
  const std::string& path() const { return path_; }

 private:
  void call(const std::vector<at::Tensor>& inputs);
  bool synchronize(const std::vector<at::Tensor>& inputs) const;  // true if any input is on CUDA

  std::string path_;
  std::string kind_;
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> aoti_;
  std::unique_ptr<torch::jit::Module> script_;
};

}  // namespace edgepower::torchlib
