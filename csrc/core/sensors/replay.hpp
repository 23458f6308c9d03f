#pragma once
// Plays a recorded trace back in real time, relative to the first read: a read at time t after
// the first read returns the last recorded sample at or before t * speed after the trace's first
// sample (sample and hold). The last sample lasts one median sample interval; after that the
// replay is over: every read throws SensorExhausted, on which the sampler ends cleanly (no read
// error, stop() does not raise). With loop, the replay starts over instead, and counters go on
// rising across laps. Formats:
//   - edgepower's trace CSV (python/edgepower/trace.py): "# edgepower trace v1", a "# meta:"
//     JSON line, header t_ns,read_ns,power_w:<rail>...[,counter_j:<rail>...];
//   - EdgeProfiler's power log: "YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>" per line (1-6 fraction
//     digits); one rail "total", P = mV * mA / 1e6 W.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "../sensor.hpp"

namespace edgepower {

struct ReplayOptions {
  std::string path;
  double speed = 1.0;  ///< > 0; 2 plays twice as fast
  bool loop = false;   ///< start over at the end instead of ending
};

/// A parsed trace: what the replay sensor plays.
struct ReplayTrace {
  SensorInfo info;                ///< rails, total_rail, has_counter, counter_range_j, details["format"], ...
  std::vector<int64_t> t_ns;      ///< trace time, ascending; span and last + one interval fit in int64
  std::vector<double> power_w;    ///< n x rails (NaN allowed: a rail without power)
  std::vector<double> counter_j;  ///< n x rails or empty
};

/// Parses the text of an edgepower trace CSV or an EdgeProfiler power log (detected from the
/// first line). `name` names the source in messages. Throws SensorUnavailable naming name:line
/// and what was wrong for any malformed input; never crashes (fuzzed: tests/fuzz/). Pure,
/// thread-safe.
ReplayTrace parse_replay_trace(std::string_view text, const std::string& name);

class ReplaySensor : public Sensor {
 public:
  /// Reads and parses the whole file. Never throws except std::invalid_argument for speed <= 0;
  /// a missing or malformed file gives an unavailable sensor whose reason names the file and line.
  explicit ReplaySensor(const ReplayOptions& options);
  /// Plays a trace held in memory (options.path only names it in messages). Same rules.
  ReplaySensor(std::string_view text, const ReplayOptions& options);
  /// Thread-compatible (one reader). Throws SensorExhausted once the trace is over (not with loop).
  void read(double* power_w, double* counter_j) override;
  std::size_t num_samples() const noexcept { return t_ns_.size(); }
  /// Duration of the recording (first to last sample), seconds of trace time.
  double span_s() const noexcept { return t_ns_.empty() ? 0.0 : (t_ns_.back() - t_ns_.front()) * 1e-9; }
  bool loop() const noexcept { return options_.loop; }

 private:
  void init(const std::string_view* text);
  ReplayOptions options_;
  std::vector<int64_t> t_ns_;     // trace time, ascending
  std::vector<double> power_w_;   // n x rails
  std::vector<double> counter_j_; // n x rails or empty
  std::vector<double> lap_j_;     // loop: counter increase over one lap, per rail (unwrapped)
  int64_t play_ns_ = 0;           // trace time played: span + the median sample interval
  int64_t start_ns_ = -1;         // wall time of the first read
  double lap_ = 0;                // loop: laps completed
  std::size_t cursor_ = 0;
};

}  // namespace edgepower
