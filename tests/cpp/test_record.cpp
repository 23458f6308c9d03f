// edgepower-record (csrc/record/): mark lines, options, sensor specs, the trace writer and the
// marks pipe. The recorder run end to end (with marks from Python) is tested in
// tests/python/test_record.py.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "core/sampler.hpp"
#include "core/sensors/replay.hpp"
#include "core/sensors/synthetic.hpp"
#include "record/marks.hpp"
#include "record/options.hpp"
#include "record/recorder.hpp"
#include "record/sensor_spec.hpp"
#include "record/trace_file.hpp"
#include "sensor_fixtures.hpp"

using namespace edgepower;
using namespace edgepower::record;
using edgepower::testing::TempTree;
namespace ept = edgepower::testing;

namespace {
constexpr int64_t kNow = 5'000'000'000'000;  // an arrival time: 5000 s after boot

std::string error_of(const std::string& line) {
  try {
    parse_mark_line(line, kNow);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

std::string options_error(const std::vector<std::string>& args) {
  try {
    parse_options(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

std::string spec_error(const std::string& spec, const std::string& root = "/") {
  try {
    create_sensor(spec, root);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

#define EXPECT_HAS(text, part) EXPECT_NE(std::string(text).find(part), std::string::npos) << (text)
}  // namespace

TEST(RecordMarks, BeginAndEndWithTheSendersTime) {
  MarkLine b = parse_mark_line("begin features.0 4999000000123 type=Conv2d", kNow);
  ASSERT_EQ(b.kind, LineKind::Mark);
  EXPECT_TRUE(b.mark.begin);
  EXPECT_EQ(b.mark.name, "features.0");
  EXPECT_EQ(b.mark.t_ns, 4999000000123);
  EXPECT_EQ(b.mark.type, "Conv2d");
  EXPECT_FALSE(b.mark.stamped_on_arrival);
  MarkLine e = parse_mark_line("  end features.0 t_ns=4999500000000 calls=100\r", kNow);
  EXPECT_FALSE(e.mark.begin);
  EXPECT_EQ(e.mark.t_ns, 4999500000000);
  EXPECT_EQ(e.mark.calls, 100);
  EXPECT_EQ(format_mark(b.mark), "4999000000123,begin,features.0,,Conv2d,sender");
  EXPECT_EQ(format_mark(e.mark), "4999500000000,end,features.0,100,,sender");
}

TEST(RecordMarks, WithoutATimeTheMarkIsStampedOnArrival) {
  MarkLine m = parse_mark_line("begin (idle)", kNow);
  EXPECT_EQ(m.mark.t_ns, kNow);
  EXPECT_TRUE(m.mark.stamped_on_arrival);
  EXPECT_EQ(m.mark.name, "(idle)");
  EXPECT_EQ(format_mark(m.mark), std::to_string(kNow) + ",begin,(idle),,,arrival");
}

TEST(RecordMarks, StopAndEmptyLines) {
  EXPECT_EQ(parse_mark_line("stop", kNow).kind, LineKind::Stop);
  EXPECT_EQ(parse_mark_line("   ", kNow).kind, LineKind::Empty);
  EXPECT_EQ(parse_mark_line("", kNow).kind, LineKind::Empty);
}

TEST(RecordMarks, BadLinesSayWhatIsWrongAndWhatALineLooksLike) {
  EXPECT_HAS(error_of("start conv1"), "must start with begin, end or stop");
  EXPECT_HAS(error_of("start conv1"), "'begin NAME [T_NS] [type=TYPE]'");
  EXPECT_HAS(error_of("begin"), "window name is missing");
  EXPECT_HAS(error_of("begin a,b"), "without spaces, commas or quotes");
  EXPECT_HAS(error_of("begin x 12abc"), "'12abc' is not a time in ns");
  EXPECT_HAS(error_of("begin x -5"), "is not a time in ns");
  EXPECT_HAS(error_of("begin x 1 2"), "the time is given twice");
  EXPECT_HAS(error_of("begin x calls=3"), "calls= belongs on the end line");
  EXPECT_HAS(error_of("end x calls=0"), "calls must be a count from 1");
  EXPECT_HAS(error_of("end x type=Conv2d"), "type= belongs on the begin line");
  EXPECT_HAS(error_of("begin x type=a,b"), "type must be a class name");
  EXPECT_HAS(error_of("begin x color=red"), "unknown field 'color'");
  EXPECT_HAS(error_of("stop now"), "'stop' takes nothing");
  EXPECT_HAS(error_of("begin " + std::string(201, 'a')), "1-200 characters");
}

TEST(RecordMarks, ASendersTimeFromAnotherClockIsRefused) {
  // time.time_ns() (since 1970) instead of time.monotonic_ns(): decades away from the boot clock.
  const std::string wall = "begin conv1 1700000000000000000";
  EXPECT_HAS(error_of(wall), "not wall-clock time");
  // Within the bound (600 s) either way it is accepted as sent.
  EXPECT_NO_THROW(parse_mark_line("begin x " + std::to_string(kNow - kMaxClockSkewNs), kNow));
  EXPECT_NO_THROW(parse_mark_line("begin x " + std::to_string(kNow + kMaxClockSkewNs), kNow));
  EXPECT_THROW(parse_mark_line("begin x " + std::to_string(kNow + kMaxClockSkewNs + 1), kNow), std::invalid_argument);
}

TEST(RecordMarks, LineSplitterJoinsPiecesAndCutsOverlongLines) {
  LineSplitter s;
  std::vector<std::string> lines;
  const std::string a = "begin a\nend ";
  s.feed(a.data(), a.size(), &lines);
  ASSERT_EQ(lines, (std::vector<std::string>{"begin a"}));
  const std::string b = "a\nstop\n";
  s.feed(b.data(), b.size(), &lines);
  EXPECT_EQ(lines, (std::vector<std::string>{"begin a", "end a", "stop"}));
  lines.clear();
  const std::string huge(kMaxMarkLine + 100, 'x');
  s.feed(huge.data(), huge.size(), &lines);
  const std::string rest = "\nbegin b";
  s.feed(rest.data(), rest.size(), &lines);
  ASSERT_EQ(lines.size(), 1u);  // cut at kMaxMarkLine, the rest of that line dropped
  EXPECT_EQ(lines[0].size(), kMaxMarkLine);
  std::string last;
  ASSERT_TRUE(s.flush(&last));
  EXPECT_EQ(last, "begin b");
  EXPECT_FALSE(s.flush(&last));
}

TEST(RecordOptions, ParsesBothFlagForms) {
  RecordOptions o = parse_options({"--sensor", "jetson-iio", "--rate=500", "--duration", "2.5", "-o", "t.csv",
                                   "--marks=/tmp/m", "--root", "/fix", "--no-realtime", "--flush", "0.5", "-q"});
  EXPECT_EQ(o.sensor, "jetson-iio");
  EXPECT_DOUBLE_EQ(o.rate_hz, 500.0);
  EXPECT_DOUBLE_EQ(o.duration_s, 2.5);
  EXPECT_EQ(o.output, "t.csv");
  EXPECT_EQ(o.marks, "/tmp/m");
  EXPECT_EQ(o.root, "/fix");
  EXPECT_FALSE(o.realtime);
  EXPECT_DOUBLE_EQ(o.flush_s, 0.5);
  EXPECT_TRUE(o.quiet);
  RecordOptions d = parse_options({"-o", "x.csv"});
  EXPECT_EQ(d.sensor, "auto");
  EXPECT_DOUBLE_EQ(d.rate_hz, 1000.0);
  EXPECT_DOUBLE_EQ(d.duration_s, 0.0);
  EXPECT_TRUE(d.realtime);
  EXPECT_TRUE(d.marks.empty());
  EXPECT_TRUE(parse_options({"--help"}).help);
  EXPECT_TRUE(parse_options({"--sensors"}).list_sensors);  // no -o needed
}

TEST(RecordOptions, BadCommandLinesSayWhatIsExpected) {
  EXPECT_HAS(options_error({}), "-o TRACE.csv is required");
  EXPECT_HAS(options_error({"-o", "t.csv", "--rate", "fast"}), "--rate takes a number, got 'fast'");
  EXPECT_HAS(options_error({"-o", "t.csv", "--rate", "50000"}), "--rate must be from 1 to 20000 Hz");
  EXPECT_HAS(options_error({"-o", "t.csv", "--duration", "-1"}), "--duration must be >= 0");
  EXPECT_HAS(options_error({"-o", "t.csv", "--flush", "0"}), "--flush must be from 0.01 to 60");
  EXPECT_HAS(options_error({"-o", "t.csv", "--speed", "2"}), "unknown argument '--speed'");
  EXPECT_HAS(options_error({"-o"}), "-o needs a value");
  EXPECT_HAS(options_error({"-o", "t.csv", "--quiet=1"}), "--quiet takes no value");
  EXPECT_HAS(options_error({"-o", "t.csv", "--marks", "t.csv"}), "must be different paths");
  EXPECT_HAS(usage(), "begin NAME [T_NS] [type=CLASS]");
}

TEST(RecordSensorSpec, SplitsLikeThePythonPackage) {
  SensorSpec s = parse_sensor_spec(" Constant: 5 , 3,refresh = 0.01 ,, ");
  EXPECT_EQ(s.kind, "constant");
  EXPECT_EQ(s.args, (std::vector<std::string>{"5", "3"}));
  EXPECT_EQ(s.options.at("refresh"), "0.01");
  EXPECT_EQ(parse_sensor_spec("jetson-iio").kind, "jetson-iio");
  EXPECT_THROW(parse_sensor_spec("  "), std::invalid_argument);
}

TEST(RecordSensorSpec, BuildsTheNativeKinds) {
  auto c = create_sensor("constant:5,3,counter=1");
  EXPECT_EQ(c->info().kind, "synthetic-constant");
  EXPECT_EQ(c->num_rails(), 2u);
  EXPECT_TRUE(c->info().has_counter);
  double p[2], e[2];
  c->read(p, e);
  EXPECT_DOUBLE_EQ(p[0], 5.0);
  EXPECT_DOUBLE_EQ(p[1], 3.0);
  auto iio = create_sensor("jetson-iio", ept::fixture("nano"));
  EXPECT_EQ(iio->info().kind, "jetson-iio");
  EXPECT_EQ(iio->info().rails[static_cast<std::size_t>(iio->info().total_rail)], "POM_5V_IN");
  EXPECT_EQ(create_sensor("jetson-hwmon", ept::fixture("orin"))->info().kind, "jetson-hwmon");
  EXPECT_EQ(create_sensor("hwmon:mode=power", ept::fixture("hwmon"))->info().kind, "hwmon");
  EXPECT_EQ(create_sensor("square:low=1,high=2,period=0.1")->info().kind, "synthetic-square");
  EXPECT_EQ(create_sensor("piecewise:0/1,1/2,step=1")->info().kind, "synthetic-piecewise");
  EXPECT_TRUE(create_sensor("cpu-estimate:idle=5,max=45,cpus=4", ept::fixture("cpu"))->info().estimated);
  // auto on a Nano tree: no NVML (hidden here even on a GPU machine), RAPL or hwmon energy
  // there, so the INA3221 (the Python package's order).
  const char* old = std::getenv("EDGEPOWER_NVML_LIBRARY");
  const std::string saved = old ? old : "";
  setenv("EDGEPOWER_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1", 1);
  const std::string kind = create_sensor("auto", ept::fixture("nano"))->info().kind;
  const std::string none = spec_error("auto", ept::fixture("broken-missing"));
  if (old) {
    setenv("EDGEPOWER_NVML_LIBRARY", saved.c_str(), 1);
  } else {
    unsetenv("EDGEPOWER_NVML_LIBRARY");
  }
  EXPECT_EQ(kind, "jetson-iio");
  EXPECT_HAS(none, "found no usable sensor");
  EXPECT_HAS(none, "jetson-iio: ");  // every kind tried, with its reason
}

TEST(RecordSensorSpec, BadSpecsSayWhatIsExpected) {
  EXPECT_HAS(spec_error("jetsn-iio"), "unknown sensor kind 'jetsn-iio'");
  EXPECT_HAS(spec_error("jetsn-iio"), "jetson-iio");  // the known kinds are listed
  EXPECT_HAS(spec_error("regions:conv/9"), "use it from the Python package");
  EXPECT_HAS(spec_error("constant:five"), "constant sensor levels must be numbers (W)");
  EXPECT_HAS(spec_error("constant:5,color=red"), "sensor 'constant' does not take color; it takes");
  EXPECT_HAS(spec_error("constant:5,refresh=soon"), "sensor 'constant': refresh must be a number");
  EXPECT_HAS(spec_error("jetson-iio:3"), "sensor 'jetson-iio' got unexpected argument(s) 3; it takes no options");
  EXPECT_HAS(spec_error("hwmon:mode=fast"), "mode must be auto, energy or power");
  EXPECT_HAS(spec_error("nvml:-1"), "index must be a GPU index >= 0");
  EXPECT_HAS(spec_error("replay:a.csv,speed=0"), "speed must be > 0");
  EXPECT_HAS(spec_error("replay:a.csv,loop=maybe"), "loop must be 1 (play again at the end) or 0");
  EXPECT_HAS(spec_error("cpu-estimate:cpus=0", ept::fixture("cpu")), "cpus must be the number of logical CPUs");
  EXPECT_HAS(spec_error("cpu-process"), "for the measured program use 'cpu-estimate'");
  EXPECT_HAS(spec_error("auto:5"), "'auto' takes no options");
  // Unavailable here: the reason and the fix, from the sensor itself.
  EXPECT_HAS(spec_error("jetson-iio", ept::fixture("orin")), "not available");
  EXPECT_HAS(spec_error("replay:/nonexistent/trace.csv"), "/nonexistent/trace.csv");
}

TEST(RecordTrace, JsonLikePython) {
  EXPECT_EQ(json_number(1000.0), "1000.0");
  EXPECT_EQ(json_number(0.1), "0.1");
  EXPECT_EQ(json_number(1e-05), "1e-05");
  EXPECT_EQ(json_number(0.0001), "0.0001");
  EXPECT_EQ(json_number(123.456), "123.456");
  EXPECT_EQ(json_number(-2.5e20), "-2.5e+20");
  EXPECT_EQ(json_number(0.0), "0.0");
  EXPECT_EQ(json_number(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(json_number(2e15), "2000000000000000.0");
  EXPECT_EQ(json_number(1e16), "1e+16");
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_string("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
}

TEST(RecordTrace, WrittenTraceReplaysSampleForSample) {
  TempTree t;
  SyntheticOptions so;
  so.counter = true;
  auto sensor = std::make_shared<ConstantSensor>(std::vector<double>{5.0, 0.25}, so);
  SamplerOptions opt;
  opt.rate_hz = 1000;
  Sampler sm(sensor, opt);
  const std::string path = t.path("trace.csv");
  TraceFile f(path, sensor->info(), 1000.0, "{\"program\": \"test\"}");
  sm.start();
  const int64_t deadline = now_ns() + 10'000'000'000;
  while (sm.size() < 50 && now_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GT(f.write_samples(sm), 0u);
  f.flush();
  record::Mark m;
  m.t_ns = 123;
  m.name = "conv1";
  f.write_mark(m);
  sm.stop();
  f.write_samples(sm);
  f.write_comment("end", "{}");
  f.close();
  EXPECT_EQ(f.samples_written(), sm.size());
  const auto lines = read_lines(path);
  ASSERT_GE(lines.size(), 5u);
  EXPECT_EQ(lines[0], "# edgepower trace v1");
  EXPECT_HAS(lines[1], "# meta: {\"sensor\": {\"kind\": \"synthetic-constant\"");
  EXPECT_HAS(lines[1], "\"rate_hz\": 1000.0, \"created_utc\": \"");
  EXPECT_HAS(lines[1], "\"recorder\": {\"program\": \"test\"}}");
  EXPECT_EQ(lines[2], "t_ns,read_ns,power_w:rail0,power_w:rail1,counter_j:rail0,counter_j:rail1");
  std::vector<std::string> cells;
  std::stringstream row(lines[3]);
  for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[2], "5");     // %.17g, as the Python writer
  EXPECT_EQ(cells[3], "0.25");
  // The replay sensor (the reader the Python package also uses) takes every sample back.
  ReplayOptions ro;
  ro.path = path;
  ReplaySensor r(ro);
  ASSERT_TRUE(r.info().available) << r.info().reason;
  EXPECT_EQ(r.num_samples(), sm.size());
  EXPECT_EQ(r.info().rails, (std::vector<std::string>{"rail0", "rail1"}));
  EXPECT_TRUE(r.info().has_counter);
  double p[2], c[2];
  r.read(p, c);
  EXPECT_DOUBLE_EQ(p[0], 5.0);
  EXPECT_DOUBLE_EQ(p[1], 0.25);
}

TEST(RecordTrace, SamplesDroppedBeforeTheyWereWrittenAreCountedNotInvented) {
  TempTree t;
  auto sensor = std::make_shared<ConstantSensor>(std::vector<double>{2.0}, SyntheticOptions{});
  SamplerOptions opt;
  opt.rate_hz = 5000;
  opt.chunk_samples = 64;
  opt.max_samples = 128;  // the rolling window: at least the newest 128 samples
  opt.memory_policy = MemoryPolicy::Rolling;
  Sampler sm(sensor, opt);
  TraceFile f(t.path("trace.csv"), sensor->info(), 5000.0, "");
  sm.start();
  const int64_t deadline = now_ns() + 20'000'000'000;
  while (sm.first_index() < 256 && now_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  sm.stop();
  ASSERT_GE(sm.first_index(), 256u);
  const std::size_t n = f.write_samples(sm);
  EXPECT_EQ(f.samples_lost(), sm.first_index());  // the writer never saw those
  EXPECT_EQ(n, sm.size() - sm.first_index());
  EXPECT_EQ(f.samples_written() + f.samples_lost(), sm.size());
  EXPECT_EQ(f.write_samples(sm), 0u);  // nothing new, nothing lost again
  EXPECT_EQ(f.samples_written() + f.samples_lost(), sm.size());
  f.close();
  ReplayOptions ro;
  ro.path = t.path("trace.csv");
  ReplaySensor r(ro);
  ASSERT_TRUE(r.info().available) << r.info().reason;
  EXPECT_EQ(r.num_samples(), n);
}

TEST(RecordTrace, ThePathHoldsTheWholeHeaderFromTheMomentItExists) {
  // A reader polling the path while recording (edgepower record | tail, a notebook) must never
  // find it empty: the header is written to a side file and renamed onto the path.
  TempTree t;
  SyntheticOptions so;
  ConstantSensor s({1.0}, so);
  const std::string path = t.path("trace.csv");
  struct stat st {};
  TraceFile f(path, s.info(), 100.0, "");
  const auto lines = read_lines(path);  // before any sample or explicit flush
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "# edgepower trace v1");
  EXPECT_HAS(lines[1], "# meta: {\"sensor\": ");
  EXPECT_EQ(lines[2], "t_ns,read_ns,power_w:total");
  EXPECT_NE(stat((path + ".partial").c_str(), &st), 0);  // the side file is gone
  f.write_comment("end", "{}");
  f.close();
  EXPECT_EQ(read_lines(path).back(), "# end: {}");  // and the open file is the renamed one
}

TEST(RecordTrace, AFolderAsThePathIsRefusedAndLeavesNoSideFile) {
  TempTree t;
  SyntheticOptions so;
  ConstantSensor s({1.0}, so);
  const std::string dir = t.path("out");
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  struct stat st {};
  try {
    TraceFile f(dir, s.info(), 100.0, "");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_HAS(e.what(), "cannot write the trace '" + dir + "'");
  }
  EXPECT_NE(stat((dir + ".partial").c_str(), &st), 0);
}

TEST(RecordTrace, AnUnwritablePathSaysSo) {
  SyntheticOptions so;
  ConstantSensor s({1.0}, so);
  try {
    TraceFile f("/nonexistent-dir/trace.csv", s.info(), 100.0, "");
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_HAS(e.what(), "cannot write the trace '/nonexistent-dir/trace.csv'");
  }
}

TEST(RecordPipe, ReadsLinesFromWritersThatComeAndGoAndRemovesWhatItCreated) {
  TempTree t;
  const std::string path = t.path("marks");
  {
    MarksPipe pipe(path);
    struct stat st {};
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_TRUE(S_ISFIFO(st.st_mode));
    std::vector<std::string> lines;
    pipe.read_available(&lines);  // nothing yet: returns at once
    EXPECT_TRUE(lines.empty());
    for (const char* text : {"begin a\n", "end a calls=2\nst", "op\n"}) {
      const int fd = open(path.c_str(), O_WRONLY | O_NONBLOCK);  // a writer per line, then gone
      ASSERT_GE(fd, 0);
      ASSERT_EQ(write(fd, text, std::strlen(text)), static_cast<ssize_t>(std::strlen(text)));
      close(fd);
    }
    pipe.read_available(&lines);
    EXPECT_EQ(lines, (std::vector<std::string>{"begin a", "end a calls=2", "stop"}));
  }
  struct stat gone {};
  EXPECT_NE(stat(path.c_str(), &gone), 0);
  // A regular file in the way is refused, not replaced.
  std::ofstream(path) << "data";
  try {
    MarksPipe p(path);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_HAS(e.what(), "exists and is not a named pipe");
  }
}
