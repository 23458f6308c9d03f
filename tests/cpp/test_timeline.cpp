#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/timeline.hpp"

using namespace edgepower;

TEST(Timeline, RegionsAreNamedOnce) {
  Timeline tl;
  const int32_t a = tl.region("conv1");
  EXPECT_EQ(tl.region("fc"), a + 1);
  EXPECT_EQ(tl.region("conv1"), a);
  EXPECT_EQ(tl.region_name(a), "conv1");
  EXPECT_THROW(tl.region_name(99), std::out_of_range);
}

TEST(Timeline, MarksAreOnTheMonotonicClockAndPairIntoWindows) {
  Timeline tl;
  const int32_t a = tl.region("a"), b = tl.region("b");
  const int64_t before = now_ns();
  tl.mark(a, MarkKind::Begin);
  tl.mark(b, MarkKind::Begin);  // overlapping
  tl.mark(a, MarkKind::End);
  tl.mark(a, MarkKind::Begin);  // nested in itself
  tl.mark(a, MarkKind::Begin);
  tl.mark(a, MarkKind::End);
  tl.mark(a, MarkKind::End);
  tl.mark(b, MarkKind::End);
  const int64_t after = now_ns();
  auto marks = tl.marks();
  ASSERT_EQ(marks.size(), 8u);
  for (const auto& m : marks) {
    EXPECT_GE(m.t_ns, before);
    EXPECT_LE(m.t_ns, after);
  }
  auto w = tl.windows();
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0].region, a);
  EXPECT_EQ(w[0].t1_ns, marks[2].t_ns);
  EXPECT_EQ(w[1].region, b);
  EXPECT_EQ(w[1].t1_ns, marks[7].t_ns);
  // LIFO pairing: the inner 'a' is marks[4]..marks[5], the outer marks[3]..marks[6].
  EXPECT_EQ(w[2].t0_ns, marks[3].t_ns);
  EXPECT_EQ(w[2].t1_ns, marks[6].t_ns);
  EXPECT_EQ(w[3].t0_ns, marks[4].t_ns);
  EXPECT_EQ(w[3].t1_ns, marks[5].t_ns);
}

TEST(Timeline, EndWithoutBeginIsAnError) {
  Timeline tl;
  tl.mark(tl.region("x"), MarkKind::End);
  EXPECT_THROW(tl.windows(), std::runtime_error);
}

TEST(Timeline, MergeInBulk) {
  Timeline tl;
  const int32_t r = tl.region("op");
  std::vector<int64_t> t = {100, 200, 300, 400};
  std::vector<int32_t> reg(4, r);
  std::vector<uint8_t> k = {1, 0, 1, 0};
  tl.merge(t.data(), reg.data(), k.data(), 4);
  auto w = tl.windows();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[1].t0_ns, 300);
  EXPECT_EQ(w[1].t1_ns, 400);
  std::vector<uint8_t> bad = {2};
  EXPECT_THROW(tl.merge(t.data(), reg.data(), bad.data(), 1), std::invalid_argument);
}

TEST(Timeline, EightThreadsMarkAtOnce) {
  Timeline tl;
  constexpr int kThreads = 8, kPerThread = 20000;  // crosses many 4096-mark chunks
  std::vector<int32_t> ids;
  for (int i = 0; i < kThreads; ++i) ids.push_back(tl.region("thread" + std::to_string(i)));
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < kPerThread; ++k) {
        tl.mark(ids[i], MarkKind::Begin);
        tl.mark(ids[i], MarkKind::End);
      }
    });
  }
  // Read concurrently while writers run: every prefix copied must be fully written.
  std::size_t seen = 0, published = 0;
  while (seen < static_cast<std::size_t>(kThreads * kPerThread * 2)) {
    const std::size_t n = tl.size();  // the fully written prefix never shrinks
    ASSERT_GE(n, published);
    published = n;
    auto m = tl.marks();
    ASSERT_GE(m.size(), n);
    for (const auto& x : m) ASSERT_TRUE(x.region >= 0 && x.region < kThreads);
    seen = m.size();
  }
  EXPECT_EQ(tl.size(), static_cast<std::size_t>(kThreads * kPerThread * 2));
  for (auto& t : threads) t.join();
  auto marks = tl.marks();
  ASSERT_EQ(marks.size(), static_cast<std::size_t>(kThreads * kPerThread * 2));
  std::vector<int> per(kThreads);
  for (const auto& m : marks) per[m.region]++;
  for (int c : per) EXPECT_EQ(c, kPerThread * 2);
  // Each thread's own marks are in its program order.
  std::vector<int64_t> last(kThreads, 0);
  for (const auto& m : marks) {
    EXPECT_GE(m.t_ns, last[m.region]);
    last[m.region] = m.t_ns;
  }
  EXPECT_EQ(tl.windows().size(), static_cast<std::size_t>(kThreads * kPerThread));
}
