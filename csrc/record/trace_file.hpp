#pragma once
// edgepower's trace CSV written from C++, byte-compatible with python/edgepower/trace.py
// (TraceWriter; read by edgepower.trace.read_trace and the replay sensor):
//
//   # edgepower trace v1
//   # meta: {"sensor": {...SensorInfo...}, "rate_hz": 1000.0, "created_utc": "...", "recorder": {...}}
//   t_ns,read_ns,power_w:<rail>,...[,counter_j:<rail>,...]
//   123456789,812,5,...                      (values as printf %.17g, like the Python writer)
//   # mark: 123456790,begin,conv1,,Conv2d,sender   (edgepower-record's marks: see marks.hpp)
//   # end: {"samples": ..., "stopped_by": ..., "sampler": {...}}
//
// Comment lines may appear anywhere after the meta line; readers skip them.
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/sampler.hpp"
#include "core/sensor.hpp"
#include "marks.hpp"

namespace edgepower::record {

/// JSON text helpers (Python's json.dumps conventions: ", " and ": " separators; floats as
/// Python's repr, 1000.0; NaN and infinities as null). Thread-safe.
std::string json_string(const std::string& s);
std::string json_number(double v);
/// The SensorInfo as python/edgepower/trace.py writes it (SensorInfo.to_dict, NaN as null).
std::string sensor_info_json(const SensorInfo& info);

/// One trace file being written. Not thread-safe: one writer thread (the recorder's main loop).
class TraceFile {
 public:
  /// Creates (truncates) path and writes the two header lines and the column line.
  /// `recorder_json` is a JSON object stored as meta["recorder"] ("" to leave it out).
  /// Throws std::runtime_error naming the path and the system error.
  TraceFile(const std::string& path, const SensorInfo& info, double rate_hz, const std::string& recorder_json);
  ~TraceFile();  ///< closes (flushing) if still open; never throws
  TraceFile(const TraceFile&) = delete;
  TraceFile& operator=(const TraceFile&) = delete;

  /// Appends the samples the sampler recorded since the last call; returns how many. One
  /// sampler per file: it remembers the sampler's absolute index it wrote up to.
  std::size_t write_samples(const Sampler& sampler);
  /// Appends "# mark: ..." for one mark.
  void write_mark(const Mark& mark);
  /// Appends "# <key>: <json>".
  void write_comment(const std::string& key, const std::string& json);
  /// Hands what was written to the kernel (a crash then loses nothing written before).
  /// Throws std::runtime_error on a write error (disk full).
  void flush();
  /// Flushes and closes. Throws std::runtime_error on a write error.
  void close();

  std::size_t samples_written() const noexcept { return written_; }
  /// The sampler index of the next sample to write (what the writer still needs kept).
  std::size_t next_sample() const noexcept { return next_; }
  /// Samples the sampler dropped (rolling memory policy) before they could be written.
  std::size_t samples_lost() const noexcept { return lost_; }
  std::size_t marks_written() const noexcept { return marks_; }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  std::size_t rails_ = 0;
  bool has_counter_ = false;
  std::size_t written_ = 0;
  std::size_t next_ = 0;  // absolute index of the next sample to write
  std::size_t lost_ = 0;
  std::size_t marks_ = 0;
};

}  // namespace edgepower::record
