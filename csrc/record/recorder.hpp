#pragma once
// edgepower-record's main loop: sample a sensor, stream the trace, take marks from a named pipe.
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "marks.hpp"
#include "options.hpp"

namespace edgepower::record {

/// The read end of the marks pipe. Creates the FIFO when absent (removing it again on
/// destruction); also holds a write end open itself, so the pipe never reports end-of-file
/// while the measured program opens and closes it. Not thread-safe.
class MarksPipe {
 public:
  /// Throws std::runtime_error when path exists and is not a FIFO, or cannot be created/opened.
  explicit MarksPipe(const std::string& path);
  ~MarksPipe();
  MarksPipe(const MarksPipe&) = delete;
  MarksPipe& operator=(const MarksPipe&) = delete;

  int fd() const noexcept { return read_fd_; }
  const std::string& path() const noexcept { return path_; }
  /// Reads whatever is buffered without blocking; appends complete lines.
  void read_available(std::vector<std::string>* lines);

 private:
  std::string path_;
  bool created_ = false;
  int read_fd_ = -1;
  int write_fd_ = -1;
  LineSplitter splitter_;
};

/// Records until the duration ends, a "stop" line, SIGINT or SIGTERM, or the sensor fails;
/// always finishes the trace. Progress and errors go to `err`. Returns the exit status
/// (options.hpp's usage() lists them). Installs SIGINT/SIGTERM handlers for its duration.
int run_recorder(const RecordOptions& options, std::ostream& err);

/// Prints every native sensor kind and whether it is available under root (and why not).
int list_sensors(const std::string& root, std::ostream& out);

/// The version written into the trace's provenance.
std::string recorder_version();

}  // namespace edgepower::record
