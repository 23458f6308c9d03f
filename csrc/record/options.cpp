#include "options.hpp"

#include <cmath>
#include <cstdlib>

namespace edgepower::record {

namespace {
double number(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v)) {
    throw UsageError(flag + " takes a number, got '" + text + "'");
  }
  return v;
}
}  // namespace

std::string usage() {
  return
      "usage: edgepower-record -o TRACE.csv [--sensor SPEC] [--rate HZ] [--duration S]\n"
      "                        [--marks FIFO] [--root DIR] [--flush S] [--no-realtime] [--quiet]\n"
      "       edgepower-record --sensors [--root DIR]\n"
      "\n"
      "Samples a power sensor on a native thread at a fixed rate (absolute CLOCK_MONOTONIC\n"
      "deadlines) and streams edgepower's trace CSV, the format `edgepower monitor -o` writes.\n"
      "No Python and no torch needed: for boards that cannot run the Python package\n"
      "(JetPack 4). Turn the trace into a per-layer report anywhere with\n"
      "`edgepower profile-trace TRACE.csv`.\n"
      "\n"
      "options:\n"
      "  -o, --output FILE   trace CSV to write (flushed every --flush seconds)\n"
      "  --sensor SPEC       sensor spec as in the Python package (default: auto): jetson-iio,\n"
      "                      jetson-hwmon, hwmon[:mode=energy|power,name=N], rapl, nvml[:INDEX],\n"
      "                      cpu-estimate[:idle=W,max=W,cpus=N], replay:FILE[,speed=X,loop=1],\n"
      "                      constant:W[,W...], square:low=W,high=W,period=S, piecewise:T/W,...\n"
      "  --rate HZ           samples per second, 1-20000 (default 1000)\n"
      "  --duration S        stop after S seconds (default: until Ctrl-C, SIGTERM or 'stop')\n"
      "  --marks FIFO        named pipe for marks from the measured program (created if absent,\n"
      "                      removed at exit if created here). One line per mark:\n"
      "                        begin NAME [T_NS] [type=CLASS]\n"
      "                        end NAME [T_NS] [calls=N]\n"
      "                        stop\n"
      "                      T_NS: CLOCK_MONOTONIC ns (Python: time.monotonic_ns()); without it\n"
      "                      the mark is stamped on arrival. Marks go into the trace as\n"
      "                      '# mark: T_NS,EVENT,NAME,CALLS,TYPE,CLOCK' comment lines.\n"
      "  --root DIR          filesystem root for the sysfs sensors (default /; for fixture trees)\n"
      "  --flush S           seconds between writes to the file (default 0.2)\n"
      "  --no-realtime       do not ask for SCHED_FIFO for the sampler thread\n"
      "  --quiet             no progress lines on stderr\n"
      "  --sensors           list every sensor kind and whether it is available here, then exit\n"
      "  --version, --help\n"
      "\n"
      "Exit status: 0 when the trace was finished (duration, 'stop', SIGINT, SIGTERM, the end of\n"
      "a replayed trace); 1 when the sensor failed while recording or samples could not be\n"
      "written in time (the trace holds what was recorded);\n"
      "2 for a bad command line or a sensor that cannot be used here.\n";
}

RecordOptions parse_options(const std::vector<std::string>& args) {
  RecordOptions o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool inline_value = false;
    const auto eq = flag.find('=');
    if (flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      inline_value = true;
    }
    auto take = [&]() -> std::string {
      if (inline_value) return value;
      if (i + 1 >= args.size()) throw UsageError(flag + " needs a value; see --help");
      return args[++i];
    };
    auto no_value = [&]() {
      if (inline_value) throw UsageError(flag + " takes no value");
    };
    if (flag == "-h" || flag == "--help") {
      no_value();
      o.help = true;
    } else if (flag == "--version") {
      no_value();
      o.version = true;
    } else if (flag == "--sensors") {
      no_value();
      o.list_sensors = true;
    } else if (flag == "-o" || flag == "--output") {
      o.output = take();
    } else if (flag == "--sensor") {
      o.sensor = take();
    } else if (flag == "--root") {
      o.root = take();
    } else if (flag == "--rate") {
      o.rate_hz = number(flag, take());
    } else if (flag == "--duration") {
      o.duration_s = number(flag, take());
    } else if (flag == "--marks") {
      o.marks = take();
    } else if (flag == "--flush") {
      o.flush_s = number(flag, take());
    } else if (flag == "--no-realtime") {
      no_value();
      o.realtime = false;
    } else if (flag == "--quiet" || flag == "-q") {
      no_value();
      o.quiet = true;
    } else {
      throw UsageError("unknown argument '" + args[i] + "'; see --help");
    }
  }
  if (o.help || o.version || o.list_sensors) return o;
  if (o.output.empty()) throw UsageError("-o TRACE.csv is required: the trace file to write");
  if (!(o.rate_hz >= 1.0 && o.rate_hz <= 20000.0)) {
    throw UsageError("--rate must be from 1 to 20000 Hz, got " + std::to_string(o.rate_hz));
  }
  if (o.duration_s < 0) throw UsageError("--duration must be >= 0 seconds (0: until stopped)");
  if (!(o.flush_s >= 0.01 && o.flush_s <= 60.0)) {
    throw UsageError("--flush must be from 0.01 to 60 seconds, got " + std::to_string(o.flush_s));
  }
  if (o.sensor.empty()) throw UsageError("--sensor needs a spec such as jetson-iio or constant:5");
  if (!o.marks.empty() && o.marks == o.output) throw UsageError("--marks and -o must be different paths");
  return o;
}

}  // namespace edgepower::record
