#pragma once
// Command line of edgepower-record (see usage()).
#include <stdexcept>
#include <string>
#include <vector>

namespace edgepower::record {

/// A bad command line; the message says what was wrong and what is expected.
class UsageError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct RecordOptions {
  std::string sensor = "auto";  ///< sensor spec (sensor_spec.hpp)
  std::string root = "/";       ///< filesystem root of the sysfs sensors (fixture trees in tests)
  double rate_hz = 1000.0;      ///< 1 .. 20000 Hz
  double duration_s = 0.0;      ///< 0: until SIGINT/SIGTERM or a "stop" line
  std::string output;           ///< trace CSV path (required unless help/version/list)
  std::string marks;            ///< named pipe for marks ("" = no marks)
  bool realtime = true;         ///< ask for SCHED_FIFO for the sampler thread
  double flush_s = 0.2;         ///< seconds between writes to the file
  bool quiet = false;           ///< no progress lines on stderr
  bool help = false;
  bool version = false;
  bool list_sensors = false;    ///< print every kind and whether it is available, then exit
};

/// Parses argv[1..] ("--key value" or "--key=value"). Throws UsageError.
RecordOptions parse_options(const std::vector<std::string>& args);

/// The --help text.
std::string usage();

}  // namespace edgepower::record
