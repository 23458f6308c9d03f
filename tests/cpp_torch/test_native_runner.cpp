// The native runner with a real TorchScript file (compiled here by the TorchScript frontend and
// saved with Module::save), the op library loaded through the real dlopen path. AOTInductor
// packages need Python to be made (torch.export); tests/python/test_torch_native.py covers them.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <dlfcn.h>
#include <unistd.h>
#include <gtest/gtest.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/custom_class.h>
#include <torch/headeronly/version.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "../../csrc/core/clock.hpp"
#include "edgepower_torch/build_info.hpp"
#include "native_runner.hpp"
#include "op_observer.hpp"

using edgepower::now_ns;
using edgepower::torchlib::NativeRunner;
using edgepower::torchlib::OpObserver;

namespace {

std::string script_file() {
  static const std::string path = [] {
    // ctest runs each test as its own process, two at a time: every process writes its own file
    // (a shared one was read half-written by another test: "not a ZIP archive").
    std::filesystem::create_directories(EDGEPOWER_TORCH_TEST_TMP);
    std::string p = std::string(EDGEPOWER_TORCH_TEST_TMP) + "/relu_plus_one." + std::to_string(::getpid()) + ".pt";
    torch::jit::Module m("ReluPlusOne");
    m.define("def forward(self, x):\n  return torch.relu(x) + 1.0\n");
    m.save(p);
    return p;
  }();
  static const struct Remove {
    ~Remove() { std::filesystem::remove(path); }
  } remove_at_exit;
  return path;
}

}  // namespace

TEST(NativeRunner, RunsATorchScriptFile) {
  NativeRunner r(script_file(), "torchscript");
  EXPECT_EQ(r.kind(), "torchscript");
  at::Tensor x = at::tensor({-1.0f, 0.5f, 2.0f});
  auto out = r.run({x});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(at::allclose(out[0], at::tensor({1.0f, 1.5f, 3.0f})));
}

TEST(NativeRunner, FixedWindowStampsEveryRepeat) {
  NativeRunner r(script_file(), "torchscript");
  at::Tensor x = at::randn({16});
  OpObserver obs(1 << 14, 1);
  const int64_t before = now_ns();
  obs.start();
  auto stamps = r.window({x}, /*warmup=*/2, /*min=*/10, /*max=*/10, /*target_ns=*/0);
  obs.stop();
  const int64_t after = now_ns();
  ASSERT_EQ(stamps.size(), 11u);
  EXPECT_GE(stamps.front(), before);
  EXPECT_LE(stamps.back(), after);
  // Each repeat's ops lie between its two stamps: repeats are stamped where they begin and end.
  const auto ev = obs.events();
  const auto names = obs.names();
  std::vector<int64_t> relu_begin;
  for (std::size_t i = 0; i < ev.t_ns.size(); ++i) {
    if (names[static_cast<std::size_t>(ev.op[i])] == "aten::relu" && ev.kind[i] == 1) relu_begin.push_back(ev.t_ns[i]);
  }
  ASSERT_EQ(relu_begin.size(), 12u) << "2 warm-up calls and 10 repeats, one aten::relu each";
  for (std::size_t i = 1; i < stamps.size(); ++i) {
    EXPECT_LT(stamps[i - 1], stamps[i]);
    const int64_t t = relu_begin[i + 1];  // skip the warm-up calls
    EXPECT_GE(t, stamps[i - 1]);
    EXPECT_LE(t, stamps[i]);
  }
  EXPECT_LT(relu_begin[1], stamps.front()) << "warm-up calls come before the first stamp";
}

TEST(NativeRunner, AdaptiveWindowStopsAtTheFirstCallPastTheTarget) {
  NativeRunner r(script_file(), "torchscript");
  at::Tensor x = at::randn({64});
  const int64_t target_ns = 5'000'000;
  auto stamps = r.window({x}, 0, 3, 10'000'000, target_ns);
  const std::size_t n = stamps.size() - 1;
  ASSERT_GE(n, 3u);
  EXPECT_GE(stamps[n] - stamps[0], target_ns);
  if (n > 3) EXPECT_LT(stamps[n - 1] - stamps[0], target_ns) << "one call past the deadline, not more";

  // The cap wins over the target.
  auto capped = r.window({x}, 0, 1, 4, 10'000'000'000);
  EXPECT_EQ(capped.size(), 5u);
}

TEST(NativeRunner, BadArgumentsAndFilesAreClearErrors) {
  EXPECT_THROW(NativeRunner(script_file(), "onnx"), std::invalid_argument);
  try {
    NativeRunner r("/nonexistent/model.pt", "torchscript");
    FAIL() << "loading a missing file must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.pt"), std::string::npos) << e.what();
  }
  NativeRunner r(script_file(), "torchscript");
  at::Tensor x = at::randn({4});
  EXPECT_THROW(r.window({x}, 0, 0, 5, 0), std::invalid_argument);
  EXPECT_THROW(r.window({x}, 0, 5, 4, 0), std::invalid_argument);
  EXPECT_THROW(r.window({x}, -1, 1, 4, 0), std::invalid_argument);
}

TEST(OpLibrary, RegistersItsOpsAndClassesWhenLoaded) {
  void* handle = dlopen(EDGEPOWER_TORCH_LIBRARY, RTLD_NOW | RTLD_GLOBAL);
  ASSERT_NE(handle, nullptr) << dlerror();
  auto op = c10::Dispatcher::singleton().findSchemaOrThrow("edgepower::build_info", "");
  auto info = op.typed<std::vector<std::string>()>().call();
  ASSERT_EQ(info.size(), 4u);
  EXPECT_EQ(info[0], EDGEPOWER_TORCH_BUILD_TORCH_VERSION);
  // The headers this test compiled against are the torch the library was built for.
  EXPECT_EQ(info[0].rfind(TORCH_VERSION, 0), 0u) << info[0] << " vs torch/version.h " << TORCH_VERSION;
  EXPECT_EQ(info[2], std::to_string(EDGEPOWER_TORCH_BUILD_CXX11_ABI));
  auto clock = c10::Dispatcher::singleton().findSchemaOrThrow("edgepower::now_ns", "");
  const int64_t a = now_ns();
  const int64_t b = clock.typed<int64_t()>().call();
  const int64_t c = now_ns();
  EXPECT_LE(a, b);
  EXPECT_LE(b, c);
  EXPECT_NE(torch::getCustomClass("__torch__.torch.classes.edgepower.OpObserver"), nullptr);
  EXPECT_NE(torch::getCustomClass("__torch__.torch.classes.edgepower.NativeRunner"), nullptr);
}
