// EdgeProfiler compatibility (csrc/compat, library edgepower_compat): timestamp formatting,
// timedelta rounding, upstream's sweep rules (skip, take, consumption, shared boundaries,
// truncation), the corrected mode, Python's float repr, pandas' CSV and their log format.
// The log parser of the core is tested in test_edgeprofiler_log.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "compat/edgeprofiler.hpp"
#include "core/energy.hpp"

using namespace edgepower;
using namespace edgepower::edgeprofiler;

namespace {
constexpr int64_t kDay20241121_us = 1732147200LL * 1000000LL;  // 2024-11-21 00:00:00

struct Sweep {
  std::vector<double> mean;
  std::vector<int64_t> count;
  std::size_t emitted;
};

Sweep sweep(const std::vector<int64_t>& t, const std::vector<double>& p, const std::vector<int64_t>& start,
            const std::vector<int64_t>& end) {
  Sweep s;
  s.mean.assign(start.size(), -1.0);  // sentinel: rows past `emitted` must stay untouched
  s.count.assign(start.size(), -1);
  s.emitted = compat_sweep(t.data(), p.data(), t.size(), start.data(), end.data(), start.size(), s.mean.data(),
                           s.count.data());
  return s;
}
}  // namespace

TEST(EdgeProfilerTimestamp, FormatRoundTrips) {
  for (const char* s : {"20241121-00:00:01.200000", "20250109-13:43:59.122593", "19691231-23:59:59.999999"}) {
    int64_t t = 0;
    ASSERT_TRUE(parse_timestamp_us(s, &t));
    EXPECT_EQ(format_timestamp_us(t), s);
  }
}

TEST(EdgeProfilerTimedelta, RoundsHalfToEvenLikeCPython) {
  // Expected values from Python: timedelta(milliseconds=x) // timedelta(microseconds=1).
  EXPECT_EQ(timedelta_ms_to_us(0.0005), 0);  // 0.5 us -> 0 (llround would give 1)
  EXPECT_EQ(timedelta_ms_to_us(0.0015), 2);
  EXPECT_EQ(timedelta_ms_to_us(0.0025), 2);
  EXPECT_EQ(timedelta_ms_to_us(0.0035), 4);
  EXPECT_EQ(timedelta_ms_to_us(-0.0015), -2);
  EXPECT_EQ(timedelta_ms_to_us(1000.0), 1'000'000);
  EXPECT_EQ(timedelta_ms_to_us(0.029552916064858437), 30);
  EXPECT_EQ(timedelta_ms_to_us(2.12433123588562), 2124);
  EXPECT_EQ(timedelta_ms_to_us(0.4507492184638977), 451);
  EXPECT_THROW(timedelta_ms_to_us(std::numeric_limits<double>::infinity()), std::invalid_argument);
}

TEST(EdgeProfilerCompat, SkipsThenTakesInclusiveWindow) {
  // Samples every 200 ms from 1.0 s (upstream's multiple_layers fixture): conv0 [1.1, 1.5]
  // takes 1.2 and 1.4; fc0 [1.9, 2.7] takes 2.0 to 2.6.
  std::vector<int64_t> t;
  std::vector<double> p;
  for (int k = 0; k <= 10; ++k) {
    t.push_back(1'000'000 + 200'000 * k);
    p.push_back(5000.0 * (1100 + 100 * k));
  }
  auto s = sweep(t, p, {1'100'000, 1'900'000}, {1'500'000, 2'700'000});
  ASSERT_EQ(s.emitted, 2u);
  EXPECT_EQ(s.count, (std::vector<int64_t>{2, 4}));
  EXPECT_DOUBLE_EQ(s.mean[0], 6'250'000.0);
  EXPECT_DOUBLE_EQ(s.mean[1], 8'750'000.0);
}

TEST(EdgeProfilerCompat, SharedBoundaryGoesToEarlierRowAndSamplesAreConsumed) {
  std::vector<int64_t> t = {10, 20, 30, 40, 50};
  std::vector<double> p = {1, 2, 3, 4, 5};
  // Row 0 [10, 30] ends exactly on sample 30; row 1 [30, 40] starts there; row 2 [15, 45]
  // overlaps both but every sample up to 40 is gone and 50 is past its end; row 3 [60, 70]
  // skips 50 and finds the log over.
  auto s = sweep(t, p, {10, 30, 15, 60, 80}, {30, 40, 45, 70, 90});
  ASSERT_EQ(s.emitted, 4u);  // the log ran out while row 3 skipped: row 3 kept, row 4 dropped
  EXPECT_EQ(s.count, (std::vector<int64_t>{3, 1, 0, 0, -1}));
  EXPECT_DOUBLE_EQ(s.mean[0], 2.0);
  EXPECT_DOUBLE_EQ(s.mean[1], 4.0);
  EXPECT_TRUE(std::isnan(s.mean[2]));
  EXPECT_TRUE(std::isnan(s.mean[3]));
  EXPECT_EQ(s.mean[4], -1.0);  // untouched
}

TEST(EdgeProfilerCompat, EmptyWindowLeavesTheSampleForLaterRows) {
  std::vector<int64_t> t = {100, 200};
  std::vector<double> p = {7, 9};
  auto s = sweep(t, p, {10, 90, 150}, {20, 150, 250});
  ASSERT_EQ(s.emitted, 3u);
  EXPECT_EQ(s.count, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_TRUE(std::isnan(s.mean[0]));
  EXPECT_DOUBLE_EQ(s.mean[1], 7.0);
  EXPECT_DOUBLE_EQ(s.mean[2], 9.0);
}

TEST(EdgeProfilerCompat, LogEndingInsideAWindowKeepsThatRowAndDropsTheRest) {
  std::vector<int64_t> t = {10, 20, 30};
  std::vector<double> p = {2, 4, 6};
  auto s = sweep(t, p, {5, 25, 100}, {15, 50, 200});
  ASSERT_EQ(s.emitted, 2u);
  EXPECT_EQ(s.count[1], 1);
  EXPECT_DOUBLE_EQ(s.mean[1], 6.0);
  EXPECT_EQ(s.count[2], -1);
}

TEST(EdgeProfilerCompat, LogEndingExactlyAtARowsLastSampleDropsLaterRows) {
  std::vector<int64_t> t = {10, 20};
  std::vector<double> p = {2, 4};
  auto s = sweep(t, p, {0, 30}, {20, 40});
  EXPECT_EQ(s.emitted, 1u);
  EXPECT_DOUBLE_EQ(s.mean[0], 3.0);
}

TEST(EdgeProfilerCompat, FollowsFileOrderWhenTimeGoesBack) {
  // Upstream reads the file in order: once taking for [40, 70], the out-of-order sample at 15
  // comes after 50 and satisfies t <= end, so it is taken too.
  std::vector<int64_t> t = {10, 50, 15, 60};
  std::vector<double> p = {1, 2, 3, 4};
  auto s = sweep(t, p, {0, 40}, {12, 70});
  ASSERT_EQ(s.emitted, 2u);
  EXPECT_EQ(s.count, (std::vector<int64_t>{1, 3}));
  EXPECT_DOUBLE_EQ(s.mean[1], 3.0);
}

TEST(EdgeProfilerCompat, NoSamplesEmitsNothing) {
  std::vector<int64_t> t;
  std::vector<double> p;
  EXPECT_EQ(sweep(t, p, {0}, {10}).emitted, 0u);
}

TEST(EdgeProfilerCorrected, TrapezoidWithInterpolatedEdgesAndIdle) {
  // p = 1, 3, 5 uW at 0, 1000, 2000 us. [500, 1500] us: p(500) = 2, p(1500) = 4, so
  // energy = (2+3)/2 * 0.5 ms + (3+4)/2 * 0.5 ms = 0.003 uJ, mean 3 uW; idle 1 uW.
  std::vector<int64_t> t = {0, 1000, 2000};
  std::vector<double> p = {1, 3, 5};
  std::vector<int64_t> w0 = {500, 500, 1200, 1500}, w1 = {1500, 1500, 1300, 2500};
  std::vector<double> e(4), en(4), m(4), mn(4);
  std::vector<int64_t> ns(4);
  std::vector<uint8_t> st(4);
  corrected_windows(t.data(), p.data(), 3, w0.data(), w1.data(), 4, 1.0, e.data(), en.data(), m.data(), mn.data(),
                    ns.data(), st.data());
  EXPECT_NEAR(e[0], 0.003, 1e-15);
  EXPECT_NEAR(e[1], 0.003, 1e-15);  // the same window again: samples are not consumed
  EXPECT_NEAR(m[0], 3.0, 1e-12);
  EXPECT_NEAR(en[0], 0.002, 1e-15);
  EXPECT_NEAR(mn[0], 2.0, 1e-12);
  EXPECT_EQ(ns[0], 1);
  // A window between samples still gets the interpolated energy: p(1200) = 3.4, p(1300) = 3.6.
  EXPECT_EQ(ns[2], 0);
  EXPECT_NEAR(e[2], 3.5 * 1e-4, 1e-15);
  EXPECT_EQ(st[3], static_cast<uint8_t>(EnergyStatus::AfterLastSample));
  EXPECT_TRUE(std::isnan(e[3]));
  EXPECT_TRUE(std::isnan(m[3]));
}

TEST(EdgeProfilerRepr, MatchesPython) {
  EXPECT_EQ(repr_double(5440000.0), "5440000.0");
  EXPECT_EQ(repr_double(1257676.201034292), "1257676.201034292");
  EXPECT_EQ(repr_double(0.1), "0.1");
  EXPECT_EQ(repr_double(0.0001), "0.0001");
  EXPECT_EQ(repr_double(0.00001), "1e-05");
  EXPECT_EQ(repr_double(1.5e-7), "1.5e-07");
  EXPECT_EQ(repr_double(1e15), "1000000000000000.0");
  EXPECT_EQ(repr_double(1e16), "1e+16");
  EXPECT_EQ(repr_double(1.2345e300), "1.2345e+300");
  EXPECT_EQ(repr_double(-0.0), "-0.0");
  EXPECT_EQ(repr_double(0.0), "0.0");
  EXPECT_EQ(repr_double(-761292.2010342921), "-761292.2010342921");
  EXPECT_EQ(repr_double(std::nan("")), "nan");
  EXPECT_EQ(repr_double(-std::numeric_limits<double>::infinity()), "-inf");
}

TEST(EdgeProfilerCsv, RendersLikePandas) {
  std::vector<int64_t> cycle = {1, 2};
  std::vector<std::string> names = {"a,b", "plain", "say \"hi\""};
  std::vector<int32_t> idx = {0, 2};
  std::vector<double> v = {5.5, std::nan("")};
  CsvColumn c0; c0.kind = CsvColumn::Kind::Int; c0.ints = cycle.data();
  CsvColumn c1; c1.kind = CsvColumn::Kind::Text; c1.text_index = idx.data(); c1.texts = &names;
  CsvColumn c2; c2.kind = CsvColumn::Kind::Float; c2.floats = v.data();
  EXPECT_EQ(render_csv({"cycle", "name", "v"}, {c0, c1, c2}, 2),
            "cycle,name,v\n1,\"a,b\",5.5\n2,\"say \"\"hi\"\"\",\n");
  EXPECT_THROW(render_csv({"cycle"}, {c0, c1}, 2), std::invalid_argument);
  std::vector<int32_t> bad = {0, 7};
  c1.text_index = bad.data();
  EXPECT_THROW(render_csv({"cycle", "name", "v"}, {c0, c1, c2}, 2), std::invalid_argument);
}

TEST(EdgeProfilerPowerLog, RendersTheirFormatAndParsesBack) {
  std::vector<int64_t> t = {kDay20241121_us + 1'000'000, kDay20241121_us + 1'200'001};
  std::vector<double> mv = {5000.0, 5000.0}, ma = {1088.0, 1088.123};
  const std::string text = render_power_log(t.data(), mv.data(), ma.data(), 2);
  EXPECT_EQ(text, "20241121-00:00:01.000000,5000.0,1088.0\n20241121-00:00:01.200001,5000.0,1088.123\n");
  PowerLog log = parse_power_log(text);
  EXPECT_EQ(log.t_us, t);
  EXPECT_EQ(log.current_ma, ma);
}
