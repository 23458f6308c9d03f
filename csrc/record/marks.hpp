#pragma once
// Marks sent by the measured program to edgepower-record, one line each (through a named pipe):
//
//   begin NAME [T_NS] [t_ns=T_NS] [type=TYPE]
//   end NAME [T_NS] [t_ns=T_NS] [calls=N]
//   stop
//
// NAME: 1-200 printable characters without spaces, commas or quotes (a layer name such as
// features.0, or the reserved "(idle)" and "(model)"). T_NS: CLOCK_MONOTONIC nanoseconds
// (Python: time.monotonic_ns()); without it the mark is stamped when the recorder reads it.
// calls: how many calls of the layer the window held (default 1). type: the layer's class,
// e.g. Conv2d (for the report). "stop" asks the recorder to finish the trace and exit.
//
// In the trace each mark is a comment line (readers skip comments):
//   # mark: T_NS,EVENT,NAME,CALLS,TYPE,CLOCK        (CLOCK: sender | arrival; CALLS, TYPE may be empty)
#include <cstdint>
#include <string>
#include <vector>

namespace edgepower::record {

struct Mark {
  int64_t t_ns = 0;                ///< CLOCK_MONOTONIC ns
  bool begin = true;               ///< begin or end of the window
  std::string name;                ///< window name
  long calls = 0;                  ///< calls in the window (end marks); 0: not given
  std::string type;                ///< layer class (begin marks); "": not given
  bool stamped_on_arrival = false; ///< t_ns is when the recorder read the line
};

enum class LineKind { Mark, Stop, Empty };

struct MarkLine {
  LineKind kind = LineKind::Empty;
  Mark mark;
};

/// Longest accepted line, bytes: a write of at most PIPE_BUF (4096) bytes to a pipe is atomic,
/// so lines from several writers never interleave.
constexpr std::size_t kMaxMarkLine = 4096;

/// A sender's t_ns further than this from the recorder's clock is refused: it is not
/// CLOCK_MONOTONIC of this boot (e.g. time.time() sent by mistake).
constexpr int64_t kMaxClockSkewNs = 600LL * 1000000000LL;

/// Parses one line (without its newline; a trailing '\r' and surrounding spaces are ignored).
/// arrival_ns stamps marks that carry no time, and bounds the ones that do. Throws
/// std::invalid_argument saying what is wrong and what a line looks like. Thread-safe.
MarkLine parse_mark_line(const std::string& line, int64_t arrival_ns);

/// "T_NS,EVENT,NAME,CALLS,TYPE,CLOCK", the text after "# mark: " in a trace. Thread-safe.
std::string format_mark(const Mark& m);

/// Splits a byte stream into lines. Not thread-safe.
class LineSplitter {
 public:
  /// Appends bytes; complete lines are appended to *lines. A line longer than kMaxMarkLine is
  /// reported cut at that length (so its parse fails visibly) and its rest is dropped.
  void feed(const char* data, std::size_t n, std::vector<std::string>* lines);
  /// The unterminated rest, if any (at end of input), as a last line.
  bool flush(std::string* line);

 private:
  std::string partial_;
  bool skipping_ = false;
};

}  // namespace edgepower::record
