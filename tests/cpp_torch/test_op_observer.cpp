// The op observer against real ATen ops: order, nesting, depth limit, capacity, sessions and
// removal with end callbacks in flight, threads.
#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <gtest/gtest.h>
#include <torch/library.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../csrc/core/clock.hpp"
#include "op_observer.hpp"

using edgepower::now_ns;
using edgepower::torchlib::OpEvents;
using edgepower::torchlib::OpObserver;

namespace {

// A test op whose kernel calls a hook before it runs aten::neg: lets a test stop or restart an
// observer while an observed op is still open (its end callback then arrives after the stop).
std::function<void()> g_hook;

at::Tensor call_hook(const at::Tensor& x) {
  if (g_hook) g_hook();
  return at::neg(x);
}

TORCH_LIBRARY_FRAGMENT(edgepower_test, m) { m.def("call_hook(Tensor x) -> Tensor", &call_hook); }

at::Tensor dispatch_call_hook(const at::Tensor& x) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("edgepower_test::call_hook", "")
                       .typed<at::Tensor(const at::Tensor&)>();
  return op.call(x);
}

struct Event {
  int64_t t_ns;
  std::string name;
  int kind;
  int depth;
};

std::vector<Event> decode(const OpObserver& obs) {
  const OpEvents e = obs.events();
  const auto names = obs.names();
  std::vector<Event> out;
  for (std::size_t i = 0; i < e.t_ns.size(); ++i) {
    out.push_back({e.t_ns[i], names.at(static_cast<std::size_t>(e.op[i])), e.kind[i], e.depth[i]});
  }
  return out;
}

std::vector<std::string> outermost(const std::vector<Event>& ev, int kind) {
  std::vector<std::string> out;
  for (const auto& e : ev) {
    if (e.depth == 0 && e.kind == kind) out.push_back(e.name);
  }
  return out;
}

// Every end closes the latest open begin of the same name and depth; returns false otherwise.
bool well_nested(const std::vector<Event>& ev) {
  std::vector<const Event*> open;
  for (const auto& e : ev) {
    if (e.kind == 1) {
      if (e.depth != static_cast<int>(open.size())) return false;
      open.push_back(&e);
    } else {
      if (open.empty() || open.back()->name != e.name || open.back()->depth != e.depth) return false;
      if (e.t_ns < open.back()->t_ns) return false;
      open.pop_back();
    }
  }
  return open.empty();
}

}  // namespace

TEST(OpObserver, RecordsOutermostOpsInOrderOnTheMonotonicClock) {
  at::Tensor a = at::ones({4, 4});
  at::Tensor b = at::ones({4, 4});
  OpObserver obs(1 << 12);
  const int64_t before = now_ns();
  obs.start();
  at::Tensor c = at::add(a, b);
  at::Tensor d = at::relu(c);
  obs.stop();
  const int64_t after = now_ns();
  const auto ev = decode(obs);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(outermost(ev, 1), (std::vector<std::string>{"aten::add", "aten::relu"}));
  EXPECT_EQ(outermost(ev, 0), (std::vector<std::string>{"aten::add", "aten::relu"}));
  EXPECT_TRUE(well_nested(ev));
  for (std::size_t i = 0; i < ev.size(); ++i) {
    EXPECT_GE(ev[i].t_ns, before);
    EXPECT_LE(ev[i].t_ns, after);
    if (i) EXPECT_GE(ev[i].t_ns, ev[i - 1].t_ns) << "stamps of one thread are in time order";
  }
  EXPECT_FLOAT_EQ(d.sum().item<float>(), 32.0f);
  EXPECT_EQ(obs.dropped(), 0);
  EXPECT_EQ(obs.sessions(), 1);
}

TEST(OpObserver, CompositeOpsNestInsideTheOutermost) {
  at::Tensor x = at::randn({2, 8});
  at::Tensor w = at::randn({3, 8});
  at::Tensor bias = at::randn({3});
  OpObserver obs(1 << 12);
  obs.start();
  (void)at::linear(x, w, bias);
  obs.stop();
  const auto ev = decode(obs);
  ASSERT_GE(ev.size(), 4u) << "aten::linear calls other ops (aten::t, aten::addmm)";
  EXPECT_EQ(ev.front().name, "aten::linear");
  EXPECT_EQ(ev.front().kind, 1);
  EXPECT_EQ(ev.front().depth, 0);
  EXPECT_EQ(ev.back().name, "aten::linear");
  EXPECT_EQ(ev.back().kind, 0);
  EXPECT_EQ(outermost(ev, 1), (std::vector<std::string>{"aten::linear"}));
  bool inner = false;
  for (std::size_t i = 1; i + 1 < ev.size(); ++i) {
    EXPECT_GE(ev[i].depth, 1) << ev[i].name << " runs inside aten::linear";
    inner = inner || ev[i].name == "aten::addmm";
  }
  EXPECT_TRUE(inner) << "aten::addmm is one of aten::linear's inner ops";
  EXPECT_TRUE(well_nested(ev));

  OpObserver top(1 << 12, /*max_depth=*/1);
  top.start();
  (void)at::linear(x, w, bias);
  top.stop();
  const auto ev1 = decode(top);
  ASSERT_EQ(ev1.size(), 2u) << "max_depth=1 keeps only the outermost op";
  EXPECT_EQ(ev1[0].name, "aten::linear");
  EXPECT_EQ(ev1[1].name, "aten::linear");
}

TEST(OpObserver, AFullBufferDropsAndCounts) {
  at::Tensor a = at::ones({2});
  OpObserver obs(4, 1);
  obs.start();
  for (int i = 0; i < 5; ++i) a = at::relu(a);
  obs.stop();
  EXPECT_EQ(obs.size(), 4);
  EXPECT_EQ(obs.dropped(), 6) << "5 ops = 10 events into 4 slots";
  obs.clear();
  EXPECT_EQ(obs.size(), 0);
  EXPECT_EQ(obs.dropped(), 0);
  obs.start();
  a = at::relu(a);
  obs.stop();
  EXPECT_EQ(obs.size(), 2);
  EXPECT_EQ(obs.sessions(), 2);
}

TEST(OpObserver, BadArgumentsSayWhatIsAllowed) {
  EXPECT_THROW(OpObserver(1), std::invalid_argument);
  EXPECT_THROW(OpObserver(16, 0), std::invalid_argument);
  EXPECT_THROW(OpObserver(16, -2), std::invalid_argument);
  try {
    OpObserver bad(16, 0);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_depth"), std::string::npos);
  }
}

TEST(OpObserver, OneActiveObserverPerThread) {
  OpObserver a(64), b(64);
  a.start();
  EXPECT_THROW(a.start(), std::logic_error);
  EXPECT_THROW(b.start(), std::logic_error);
  EXPECT_THROW(a.clear(), std::logic_error);
  a.stop();
  a.stop();  // idempotent
  b.start();
  EXPECT_TRUE(b.active());
  b.stop();
}

TEST(OpObserver, StopFromAnotherThreadIsRefused) {
  OpObserver obs(64);
  obs.start();
  std::string what;
  std::thread([&] {
    try {
      obs.stop();
    } catch (const std::logic_error& e) {
      what = e.what();
    }
  }).join();
  EXPECT_NE(what.find("thread that called start()"), std::string::npos) << what;
  EXPECT_TRUE(obs.active());
  obs.stop();
}

TEST(OpObserver, AnEndInFlightAfterStopIsDropped) {
  at::Tensor x = at::ones({3});
  OpObserver first(64);
  OpObserver second(64);
  // Inside the observed op edgepower_test::call_hook: stop the first session, start another.
  g_hook = [&] {
    first.stop();
    second.start();
  };
  first.start();
  (void)dispatch_call_hook(x);
  g_hook = nullptr;
  second.stop();
  const auto a = decode(first);
  ASSERT_EQ(a.size(), 1u) << "the first session saw call_hook begin; its end came after stop()";
  EXPECT_EQ(a[0].name, "edgepower_test::call_hook");
  EXPECT_EQ(a[0].kind, 1);
  const auto b = decode(second);
  // The second session started inside call_hook: it sees aten::neg (its outermost op, depth 0)
  // and not the end of call_hook, which belongs to the first session's generation.
  EXPECT_EQ(outermost(b, 1), (std::vector<std::string>{"aten::neg"}));
  EXPECT_EQ(outermost(b, 0), (std::vector<std::string>{"aten::neg"}));
  EXPECT_TRUE(well_nested(b));
  for (const auto& e : b) EXPECT_NE(e.name, "edgepower_test::call_hook");

  // The same observer stopped and restarted inside the op: a new generation, same rule.
  OpObserver obs(64);
  uint32_t gen_before = 0, gen_after = 0;
  g_hook = [&] {
    gen_before = edgepower::torchlib::current_generation_for_tests();
    obs.stop();
    obs.start();
    gen_after = edgepower::torchlib::current_generation_for_tests();
  };
  obs.start();
  (void)dispatch_call_hook(x);
  g_hook = nullptr;
  obs.stop();
  EXPECT_NE(gen_before, 0u);
  EXPECT_NE(gen_before, gen_after);
  const auto c = decode(obs);
  ASSERT_GE(c.size(), 3u);
  EXPECT_EQ(c[0].name, "edgepower_test::call_hook");
  EXPECT_EQ(c[0].kind, 1);
  std::vector<std::string> tail;
  for (std::size_t i = 1; i < c.size(); ++i) {
    if (c[i].depth == 0) tail.push_back(c[i].name + (c[i].kind ? "+" : "-"));
  }
  EXPECT_EQ(tail, (std::vector<std::string>{"aten::neg+", "aten::neg-"}));
}

TEST(OpObserver, DestroyedOnAnotherThreadWhileActiveLeavesNoDanglingCallback) {
  at::Tensor x = at::ones({3});
  auto obs = std::make_unique<OpObserver>(64);
  obs->start();
  (void)at::relu(x);
  std::thread([o = std::move(obs)]() mutable { o.reset(); }).join();
  // The callback is still registered on this thread: it must do nothing, safely.
  for (int i = 0; i < 3; ++i) (void)at::relu(x);
  OpObserver next(64);
  next.start();  // removes the stale callback: ops are seen once, not twice
  (void)at::relu(x);
  next.stop();
  const auto ev = decode(next);
  EXPECT_EQ(outermost(ev, 1), (std::vector<std::string>{"aten::relu"}));
  EXPECT_TRUE(well_nested(ev));
  // The same op observed on a thread that never had a stale callback: as many events.
  std::size_t reference = 0;
  std::thread([&] {
    OpObserver ref(64);
    ref.start();
    (void)at::relu(x);
    ref.stop();
    reference = static_cast<std::size_t>(ref.size());
  }).join();
  EXPECT_EQ(ev.size(), reference);
}

TEST(OpObserver, SeesOnlyItsOwnThread) {
  at::Tensor x = at::ones({3});
  OpObserver obs(1 << 14);
  obs.start();
  std::thread other([&] {
    for (int i = 0; i < 50; ++i) (void)at::neg(x);
  });
  other.join();
  (void)at::relu(x);
  obs.stop();
  const auto ev = decode(obs);
  EXPECT_EQ(outermost(ev, 1), (std::vector<std::string>{"aten::relu"}));
}
