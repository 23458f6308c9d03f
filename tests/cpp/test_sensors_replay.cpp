#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/sampler.hpp"
#include "core/sensors/replay.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using edgepower::testing::fixture;
using edgepower::testing::TempTree;
using edgepower::testing::wait_until;

namespace {
ReplayOptions at(const std::string& path, double speed = 1.0) {
  ReplayOptions o;
  o.path = path;
  o.speed = speed;
  return o;
}

// 11 samples 5 ms apart; power of sample k is k + 0.5 W (rail a) and 2k W (rail b).
std::string edgepower_trace() {
  std::string s = "# edgepower trace v1\n# meta: {\"sensor\": {\"kind\": \"rapl\", \"total_rail\": 1, "
                  "\"counter_range_j\": 100.0, \"estimated\": false}, \"rate_hz\": 200.0}\n"
                  "t_ns,read_ns,power_w:a,power_w:b,counter_j:a,counter_j:b\n";
  for (int k = 0; k <= 10; ++k) {
    s += std::to_string(1000000000LL + k * 5000000LL) + ",700," + std::to_string(k + 0.5) + "," + std::to_string(2.0 * k) +
         "," + std::to_string(k * 0.1) + "," + std::to_string(k * 0.2) + "\n";
  }
  return s;
}
}  // namespace

TEST(Replay, EdgepowerTracePlaysInRealTimeAndThenEnds) {
  TempTree t;
  t.write("trace.csv", edgepower_trace());
  ReplaySensor s(at(t.path("trace.csv")));
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(i.has_counter);
  EXPECT_EQ(i.total_rail, 1);
  EXPECT_DOUBLE_EQ(i.counter_range_j, 100.0);
  EXPECT_EQ(i.details.at("recorded_sensor"), "rapl");
  EXPECT_DOUBLE_EQ(i.update_interval_s, 0.005);
  EXPECT_EQ(s.num_samples(), 11u);
  EXPECT_DOUBLE_EQ(s.span_s(), 0.05);
  double p[2], c[2];
  const int64_t before0 = now_ns();
  s.read(p, c);
  const int64_t after0 = now_ns();
  EXPECT_DOUBLE_EQ(p[0], 0.5);  // the first read gives the first sample
  EXPECT_DOUBLE_EQ(c[1], 0.0);
  bool over = false;
  int reads = 0;
  while (!over) {
    const int64_t before = now_ns();
    try {
      s.read(p, c);
    } catch (const SensorExhausted& e) {  // the end of the data, not a read error
      const std::string m = e.what();
      EXPECT_NE(m.find("replay of " + t.path("trace.csv") + " is over"), std::string::npos) << m;
      EXPECT_GE(now_ns() - before0, 55000000);  // not before 50 ms + the last sample's 5 ms
      over = true;
      break;
    }
    const int64_t after = now_ns();
    ++reads;
    // Sample k was recorded 5k ms after the first; the read falls between these elapsed times.
    const double lo_ms = (before - after0) * 1e-6, hi_ms = (after - before0) * 1e-6;
    const int k = static_cast<int>(p[0] - 0.5);
    EXPECT_DOUBLE_EQ(p[1], 2.0 * k);
    EXPECT_NEAR(c[0], k * 0.1, 1e-12);
    EXPECT_LE(k * 5.0, hi_ms + 1e-9) << "sample " << k << " played too early";
    EXPECT_GT((k + 1) * 5.0, lo_ms - 1e-9) << "sample " << k << " held too long";
    if (reads > 1000000) break;
  }
  EXPECT_TRUE(over);
}

TEST(Replay, SamplerEndsCleanlyAtTheEndOfTheTrace) {
  // Before: every normal replay ended with max_consecutive_failures counted read errors and
  // stop() raising SensorError "is over". The end of a recording is not an error.
  TempTree t;
  t.write("trace.csv", edgepower_trace());
  auto s = std::make_shared<ReplaySensor>(at(t.path("trace.csv"), 5.0));  // 11 ms of play
  SamplerOptions o;
  o.rate_hz = 2000;
  o.max_consecutive_failures = 5;
  Sampler sampler(s, o);
  sampler.start();
  ASSERT_TRUE(wait_until([&] { return sampler.finished(); }, 5.0));
  EXPECT_TRUE(wait_until([&] { return !sampler.running(); }, 1.0));
  EXPECT_FALSE(sampler.failed());
  EXPECT_NO_THROW(sampler.stop());
  EXPECT_NO_THROW(sampler.stop());  // and again
  const SamplerStats st = sampler.stats();
  EXPECT_EQ(st.read_errors, 0u);
  EXPECT_EQ(st.stop_reason, "sensor finished");
  EXPECT_NE(st.last_error.find("is over"), std::string::npos);
  EXPECT_GE(sampler.size(), 2u);
  const SampleBlock b = sampler.copy_block();
  EXPECT_DOUBLE_EQ(b.power_w[0], 0.5);
  for (std::size_t i = 0; i < b.size(); ++i) {
    const double k = b.power_w[2 * i] - 0.5;  // played in order, only recorded values
    EXPECT_EQ(k, std::round(k));
    EXPECT_DOUBLE_EQ(b.power_w[2 * i + 1], 2.0 * k);
    if (i) EXPECT_GE(b.power_w[2 * i], b.power_w[2 * (i - 1)]);
  }
  // The play lasted the trace's span plus the last sample's own interval: 55 ms / 5.
  EXPECT_GE(b.t_ns.back() - b.t_ns.front(), 0);
  EXPECT_LE((b.t_ns.back() - b.t_ns.front()) * 1e-9, 0.011 + 0.5);
}

TEST(Replay, LoopPlaysAgainWithCountersRisingAcrossLaps) {
  TempTree t;
  t.write("trace.csv", edgepower_trace());
  ReplayOptions o = at(t.path("trace.csv"), 10.0);  // one lap is 55 ms of trace time: 5.5 ms
  o.loop = true;
  auto s = std::make_shared<ReplaySensor>(o);
  ASSERT_TRUE(s->info().available) << s->info().reason;
  EXPECT_TRUE(s->loop());
  SamplerOptions so;
  so.rate_hz = 5000;
  Sampler sampler(s, so);
  sampler.start();
  ASSERT_TRUE(wait_until([&] { return sampler.size() >= 500; }, 10.0));  // ~100 ms: many laps
  sampler.stop();
  EXPECT_FALSE(sampler.finished());
  const SampleBlock b = sampler.copy_block();
  double max_a = 0;
  std::size_t restarts = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const double k = b.power_w[2 * i] - 0.5;
    ASSERT_EQ(k, std::round(k));
    if (i && b.power_w[2 * i] < b.power_w[2 * (i - 1)]) ++restarts;  // back to sample 0
    // One lap adds 1.0 J on rail a (0.1 J x 10 steps) and 2.0 J on rail b; the counter of a
    // later lap is sample k's value plus the laps played, so it never goes down.
    if (i) EXPECT_GE(b.counter_j[2 * i], b.counter_j[2 * (i - 1)] - 1e-12);
    max_a = std::max(max_a, b.counter_j[2 * i]);
  }
  EXPECT_GE(restarts, 3u);
  EXPECT_GT(max_a, 3.0);  // at least three laps of 1 J
  EXPECT_EQ(sampler.stats().counter_resets, (std::vector<std::size_t>{0, 0}));
  EXPECT_EQ(sampler.stats().read_errors, 0u);
}

TEST(Replay, EdgeProfilerPowerLog) {
  ReplaySensor s(at(fixture("edgeprofiler_power_log.log")));
  const SensorInfo& i = s.info();
  ASSERT_TRUE(i.available) << i.reason;
  EXPECT_EQ(i.rails, std::vector<std::string>{"total"});
  EXPECT_FALSE(i.has_counter);
  EXPECT_EQ(s.num_samples(), 6u);
  EXPECT_NEAR(s.span_s(), 0.0075, 1e-12);  // "01.00" is 1.000000 s; "01.0075" is 1.0075 s
  EXPECT_NEAR(i.update_interval_s, 0.0015, 1e-12);
  double p, c;
  s.read(&p, &c);
  EXPECT_DOUBLE_EQ(p, 5000.0 * 1100.0 * 1e-6);  // mV x mA: 5.5 W
}

TEST(Replay, EdgeProfilerAcrossMidnight) {
  TempTree t;
  t.write("log.log", "20241231-23:59:59.999,5000,1000\n20250101-00:00:00.001,5000,2000\n");
  ReplaySensor s(at(t.path("log.log")));
  ASSERT_TRUE(s.info().available) << s.info().reason;
  EXPECT_NEAR(s.span_s(), 0.002, 1e-12);
}

TEST(Replay, AnUnfinishedLastLineIsLeftOutAndCounted) {
  // A trace read while edgepower-record writes it, or after a kill mid-line: the last line has
  // no newline and may be a number cut short ("1" of "10.5"), so it is not a sample.
  TempTree t;
  std::string tr = edgepower_trace();
  t.write("cut.csv", tr + "1055000000,700,1");
  ReplaySensor cut(at(t.path("cut.csv")));
  ASSERT_TRUE(cut.info().available) << cut.info().reason;
  EXPECT_EQ(cut.num_samples(), 11u);
  EXPECT_EQ(cut.info().details.at("unfinished_last_line_bytes"), "16");
  t.write("whole.csv", tr + "1055000000,700,1,2,3,4\n");
  ReplaySensor whole(at(t.path("whole.csv")));
  ASSERT_TRUE(whole.info().available) << whole.info().reason;
  EXPECT_EQ(whole.num_samples(), 12u);
  EXPECT_EQ(whole.info().details.count("unfinished_last_line_bytes"), 0u);
}

TEST(Replay, BadFilesAreUnavailableWithFileAndLine) {
  TempTree t;
  ReplaySensor missing(at(t.path("nope.csv")));
  EXPECT_FALSE(missing.info().available);
  EXPECT_NE(missing.info().reason.find("cannot open trace " + t.path("nope.csv")), std::string::npos);
  t.write("bad.log", "20241121-00:00:01.00,5000.0,1100.0\n20241121-00:00:01.01,5000.0,eleven\n");
  ReplaySensor bad(at(t.path("bad.log")));
  EXPECT_FALSE(bad.info().available);
  EXPECT_NE(bad.info().reason.find(t.path("bad.log") + ":2: bad current (mA)"), std::string::npos) << bad.info().reason;
  t.write("back.log", "20241121-00:00:01.50,5000,1\n20241121-00:00:01.20,5000,1\n");
  ReplaySensor back(at(t.path("back.log")));
  EXPECT_NE(back.info().reason.find(":2: timestamps go backwards"), std::string::npos) << back.info().reason;
  t.write("other.txt", "hello\n");
  ReplaySensor other(at(t.path("other.txt")));
  EXPECT_NE(other.info().reason.find("neither an edgepower trace"), std::string::npos);
  std::string tr = edgepower_trace();
  tr.replace(tr.find(",700,3.500000,"), 14, ",700,x.5,");
  t.write("garbage.csv", tr);
  ReplaySensor garbage(at(t.path("garbage.csv")));
  EXPECT_NE(garbage.info().reason.find("garbage.csv:7: 'x.5' in column power_w:a is not a finite number"), std::string::npos)
      << garbage.info().reason;
  EXPECT_THROW(ReplaySensor(at(t.path("garbage.csv"), 0.0)), std::invalid_argument);
  ReplaySensor none(at(""));
  EXPECT_NE(none.info().reason.find("replay:path="), std::string::npos);
}

TEST(Replay, ExtremeSpeedsAndTinyLoopsStayDefined) {
  // Found by review for the fuzzers: a loop of a 1 ns trace at speed 1e300 counts more laps than
  // int64 holds (the lap count was cast to int64: undefined behaviour). Reads must stay defined.
  const std::string text =
      "# edgepower trace v1\n# meta: {\"sensor\": {\"kind\": \"x\"}}\nt_ns,read_ns,power_w:a,counter_j:a\n"
      "10,1,1.5,0\n11,1,2.5,1\n";
  for (bool loop : {false, true}) {
    for (double speed : {1e-300, 1.0, 1e300}) {
      ReplayOptions o;
      o.path = "tiny";
      o.speed = speed;
      o.loop = loop;
      ReplaySensor s(text, o);
      ASSERT_TRUE(s.info().available) << s.info().reason;
      double p = 0, c = 0;
      for (int i = 0; i < 3; ++i) {
        try {
          s.read(&p, &c);
          EXPECT_TRUE(p == 1.5 || p == 2.5) << p;
        } catch (const SensorExhausted&) {
          EXPECT_FALSE(loop);
        }
      }
    }
  }
}

TEST(Replay, TimestampsTooFarApartAreRejectedNotOverflowed) {
  // t_ns from INT64_MIN to INT64_MAX: their span does not fit in int64 ns.
  const std::string text = "# edgepower trace v1\nt_ns,read_ns,power_w:a\n-9223372036854775808,1,1\n"
                           "9223372036854775807,1,2\n";
  ReplaySensor s(text, at("far.csv"));
  EXPECT_FALSE(s.info().available);
  EXPECT_NE(s.info().reason.find("far.csv:4: t_ns spans more than 292 years"), std::string::npos) << s.info().reason;
  // An EdgeProfiler log from year 1 to 9999 spans 3e20 ns.
  ReplaySensor log("00010101-00:00:00.0,5000,1\n99991231-23:59:59.9,5000,1\n", at("far.log"));
  EXPECT_FALSE(log.info().available);
  EXPECT_NE(log.info().reason.find("far.log:2: the log spans more than 292 years"), std::string::npos)
      << log.info().reason;
  // The last sample's interval must fit after the last timestamp too.
  ReplaySensor edge("# edgepower trace v1\nt_ns,read_ns,power_w:a\n9223372036854775000,1,1\n9223372036854775800,1,2\n",
                    at("edge.csv"));
  EXPECT_FALSE(edge.info().available);
  EXPECT_NE(edge.info().reason.find("no room for its last interval"), std::string::npos) << edge.info().reason;
}
