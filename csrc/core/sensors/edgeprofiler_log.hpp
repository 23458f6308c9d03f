#pragma once
// Reader of EdgeProfiler's (fuzzylabs/edge-vision-power-estimation) power logs, a trace format
// the replay sensor plays back: one sample a line, "YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>".
// Writing their formats (logs, pandas-identical CSVs) and their mapping rule live outside the
// measurement core, in csrc/compat/edgeprofiler.hpp.
//
// Units: EdgeProfiler timestamps are naive wall-clock datetimes; here they become int64
// microseconds since 1970-01-01 00:00:00 of the same (unspecified) zone (`_us`). Voltage is mV,
// current mA. Pure functions: thread-safe, no shared state.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace edgepower::edgeprofiler {

/// A malformed input line. line() is 1-based (0 when not tied to a line).
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, std::size_t line) : std::runtime_error(what), line_(line) {}
  std::size_t line() const { return line_; }

 private:
  std::size_t line_;
};

/// Parses "YYYYmmdd-HH:MM:SS.f" where the fraction has 1 to 6 digits (right-padded with zeros,
/// as Python's %f does: ".20" is 200000 us) into microseconds since 1970-01-01. Date and time
/// fields are fixed width and range-checked (month 1-12, day within the month, 00-23:00-59:00-59).
/// Returns false (and leaves *t_us alone) when the text is not exactly that.
bool parse_timestamp_us(std::string_view text, int64_t* t_us);

/// The samples of one power log, in file order.
struct PowerLog {
  std::vector<int64_t> t_us;        ///< microseconds since 1970-01-01
  std::vector<double> voltage_mv;   ///< millivolts as written
  std::vector<double> current_ma;   ///< milliamps as written
  std::vector<int64_t> line;        ///< 1-based line number of each sample
  std::size_t blank_lines = 0;      ///< empty or whitespace-only lines, skipped
  std::size_t backward_steps = 0;   ///< samples whose timestamp is earlier than the previous one
  std::size_t first_backward_line = 0;  ///< line of the first such sample, 0 if none
};

/// Parses a power log held in memory: one sample a line, "<timestamp>,<mV>,<mA>"; spaces, tabs
/// and a '\r' around a line are ignored and blank lines are skipped (counted in blank_lines).
/// mV and mA are decimal numbers (spaces around them allowed) and must be finite. Throws
/// ParseError naming the line and what was wrong; never crashes on any input (fuzzed:
/// tests/fuzz/).
PowerLog parse_power_log(std::string_view text);

/// Reads and parses a power log file. Throws std::runtime_error when the file cannot be read,
/// ParseError for a malformed line.
PowerLog read_power_log(const std::string& path);

}  // namespace edgepower::edgeprofiler
