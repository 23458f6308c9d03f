// EdgeProfiler power log reader of the core (csrc/core/sensors/edgeprofiler_log.hpp), the
// trace format the replay sensor plays: timestamps, lines, blanks, and errors naming the line.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/sensors/edgeprofiler_log.hpp"

using namespace edgepower::edgeprofiler;

namespace {
constexpr int64_t kDay20241121_us = 1732147200LL * 1000000LL;  // 2024-11-21 00:00:00

int64_t ts(const char* s) {
  int64_t t = 0;
  EXPECT_TRUE(parse_timestamp_us(s, &t)) << s;
  return t;
}
}  // namespace

TEST(EdgeProfilerTimestamp, FractionIsRightPadded) {
  EXPECT_EQ(ts("20241121-00:00:01.20"), kDay20241121_us + 1'200'000);
  EXPECT_EQ(ts("20241121-00:00:01.2"), kDay20241121_us + 1'200'000);
  EXPECT_EQ(ts("20241121-00:00:01.000007"), kDay20241121_us + 1'000'007);
  EXPECT_EQ(ts("19700101-00:00:00.000001"), 1);
  EXPECT_EQ(ts("20250109-13:43:59.122593"), 1736430239122593LL);
}

TEST(EdgeProfilerTimestamp, RejectsWhatStrptimeRejects) {
  int64_t t = 42;
  for (const char* bad : {"20241121-00:00:01", "20241121-00:00:01.", "20241121-00:00:01.1234567",
                          "20241121 00:00:01.5", "20241321-00:00:01.5", "20230229-00:00:01.5",
                          "20241121-24:00:01.5", "20241121-00:60:01.5", "20241121-00:00:60.5",
                          "2024112-00:00:01.55", "20241121-00:00:01.5x", ""}) {
    EXPECT_FALSE(parse_timestamp_us(bad, &t)) << bad;
  }
  EXPECT_EQ(t, 42);
  EXPECT_TRUE(parse_timestamp_us("20240229-23:59:59.999999", &t));  // leap day
}

TEST(EdgeProfilerLog, ParsesLinesBlanksAndCrlf) {
  const std::string text =
      "20241121-00:00:01.00,5000.0,1100.0\r\n"
      "\n"
      "  20241121-00:00:01.20, 5000 ,+1200.5  \n"
      "20241121-00:00:01.10,4990.0,1e3";  // no final newline, and a step back in time
  PowerLog log = parse_power_log(text);
  ASSERT_EQ(log.t_us.size(), 3u);
  EXPECT_EQ(log.t_us[1], kDay20241121_us + 1'200'000);
  EXPECT_DOUBLE_EQ(log.voltage_mv[1], 5000.0);
  EXPECT_DOUBLE_EQ(log.current_ma[1], 1200.5);
  EXPECT_DOUBLE_EQ(log.current_ma[2], 1000.0);
  EXPECT_EQ(log.line, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(log.blank_lines, 1u);
  EXPECT_EQ(log.backward_steps, 1u);
  EXPECT_EQ(log.first_backward_line, 4u);
  EXPECT_TRUE(parse_power_log("").t_us.empty());
}

TEST(EdgeProfilerLog, MalformedLineNamesItsNumber) {
  const std::string good = "20241121-00:00:01.00,5000.0,1100.0\n";
  struct Case { std::string line; std::string why; };
  for (const Case& c : {Case{"20241121-00:00:01.20,5000.0", "3 comma-separated"},
                        Case{"20241121-00:00:01.20,5000.0,1,2", "more than 3"},
                        Case{"2024-11-21 00:00:01.20,5000.0,1200", "bad timestamp"},
                        Case{"20241121-00:00:01.20,5k,1200", "bad voltage"},
                        Case{"20241121-00:00:01.20,5000,nan", "bad current"},
                        Case{"20241121-00:00:01.20,5000,", "bad current"}}) {
    try {
      parse_power_log(good + "\n" + good + c.line + "\n" + good);
      FAIL() << "accepted " << c.line;
    } catch (const ParseError& e) {
      EXPECT_EQ(e.line(), 4u) << c.line;
      const std::string what = e.what();
      EXPECT_NE(what.find("line 4"), std::string::npos) << what;
      EXPECT_NE(what.find(c.why), std::string::npos) << what;
    }
  }
}

TEST(EdgeProfilerLog, MissingFileIsAnError) {
  EXPECT_THROW(read_power_log("/nonexistent/edgepower/log.log"), std::runtime_error);
}
