// Every input kept under tests/fuzz/ (the seed corpus and the crashes scripts/fuzz.sh found, in
// tests/fuzz/regressions/) goes through each parser the fuzzers drive, in every build (the
// sanitizer builds of scripts/sanitize.sh too): it parses or fails with a message, never crashes.
// Specific findings also have a named test with the expected message below.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "core/sensors/edgeprofiler_log.hpp"
#include "core/sensors/replay.hpp"

using namespace edgepower;
namespace fs = std::filesystem;

namespace {
std::vector<fs::path> kept_inputs() {
  std::vector<fs::path> out;
  const fs::path root = fs::path(EDGEPOWER_TEST_DATA).parent_path() / "fuzz";
  for (const char* dir : {"corpus", "regressions"}) {
    if (!fs::exists(root / dir)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root / dir)) {
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
    }
  }
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// What the replay sensor makes of text: its reason when unavailable, else "" after three reads.
std::string play(const std::string& text, bool loop, double speed = 1e6) {
  ReplayOptions o;
  o.path = "input";
  o.speed = speed;
  o.loop = loop;
  ReplaySensor s(text, o);
  if (!s.info().available) return s.info().reason;
  std::vector<double> p(s.num_rails()), c(s.num_rails());
  for (int i = 0; i < 3; ++i) {
    try {
      s.read(p.data(), c.data());
    } catch (const SensorExhausted&) {
      EXPECT_FALSE(loop) << "a looped replay ended";
      break;
    }
  }
  return "";
}
}  // namespace

TEST(FuzzRegressions, EveryKeptInputParsesOrFailsWithAMessage) {
  const auto inputs = kept_inputs();
  ASSERT_GE(inputs.size(), 10u) << "tests/fuzz/corpus is missing";
  for (const fs::path& p : inputs) {
    SCOPED_TRACE(p.string());
    const std::string text = slurp(p);
    try {
      edgeprofiler::parse_power_log(text);
    } catch (const edgeprofiler::ParseError& e) {
      EXPECT_GT(e.line(), 0u);
      EXPECT_STRNE(e.what(), "");
    }
    try {
      parse_replay_trace(text, "input");
    } catch (const SensorUnavailable& e) {
      EXPECT_STRNE(e.what(), "");
    }
    play(text, false);
    play(text, true);
    play("# edgepower trace v1\n" + text, false, 1e9);
  }
}

// Found by fuzzing from Python (tests/fuzz/python/): messages and names that reach Python must be
// text, or pybind11's UTF-8 decoding raised UnicodeDecodeError instead of the error itself.
TEST(FuzzRegressions, PowerLogErrorQuotesNonPrintableBytesAsQuestionMarks) {
  try {
    edgeprofiler::parse_power_log("20250109-13:00:00.006,50\xc8\xff" "0,12\n");
    FAIL() << "a malformed line parsed";
  } catch (const edgeprofiler::ParseError& e) {
    EXPECT_EQ(e.line(), 1u);
    EXPECT_NE(std::string(e.what()).find("'20250109-13:00:00.006,50??0,12'"), std::string::npos) << e.what();
  }
}

TEST(FuzzRegressions, ReplayRailNameAndRecordedKindMustBeText) {
  EXPECT_NE(play("# edgepower trace v1\nt_ns,read_ns,power_w:tot\xff\xfe" "al\n5,1,2.5\n", false)
                .find("input:2: rail name 'tot??al' is not printable text (UTF-8)"),
            std::string::npos);
  EXPECT_NE(play("# edgepower trace v1\n# meta: {\"sensor\": {\"kind\": \"x\xc3\"}}\nt_ns,read_ns,power_w:a\n5,1,2\n",
                 false)
                .find("meta kind 'x?' is not printable text"),
            std::string::npos);
  EXPECT_EQ(play("# edgepower trace v1\nt_ns,read_ns,power_w:VDD_\xc2\xb5\n5,1,2.5\n6,1,2.5\n", false), "");
  // A UTF-16 surrogate (U+D800) and an overlong '/' are not well-formed UTF-8.
  EXPECT_NE(play("# edgepower trace v1\nt_ns,read_ns,power_w:\xed\xa0\x80\n5,1,2.5\n", false).find("not printable"),
            std::string::npos);
  EXPECT_NE(play("# edgepower trace v1\nt_ns,read_ns,power_w:\xc0\xaf\n5,1,2.5\n", false).find("not printable"),
            std::string::npos);
}
