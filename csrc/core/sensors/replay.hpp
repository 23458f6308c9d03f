#pragma once
// Plays a recorded trace back in real time, relative to the first read: a read at time t after
// the first read returns the last recorded sample at or before t * speed after the trace's first
// sample (sample and hold). The last sample lasts one median sample interval; after that every
// read throws SensorError, so the sampler stops. Formats:
//   - edgepower's trace CSV (python/edgepower/trace.py): "# edgepower trace v1", a "# meta:"
//     JSON line, header t_ns,read_ns,power_w:<rail>...[,counter_j:<rail>...];
//   - EdgeProfiler's power log: "YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>" per line (1-6 fraction
//     digits); one rail "total", P = mV * mA / 1e6 W.
#include <cstdint>
#include <string>
#include <vector>

#include "../sensor.hpp"

namespace edgepower {

struct ReplayOptions {
  std::string path;
  double speed = 1.0;  ///< > 0; 2 plays twice as fast
};

class ReplaySensor : public Sensor {
 public:
  /// Parses the whole file. Never throws except std::invalid_argument for speed <= 0; a missing
  /// or malformed file gives an unavailable sensor whose reason names the file and line.
  explicit ReplaySensor(const ReplayOptions& options);
  /// Thread-compatible (one reader). Throws SensorError once the trace is over.
  void read(double* power_w, double* counter_j) override;
  std::size_t num_samples() const noexcept { return t_ns_.size(); }
  /// Duration of the recording (first to last sample), seconds of trace time.
  double span_s() const noexcept { return t_ns_.empty() ? 0.0 : (t_ns_.back() - t_ns_.front()) * 1e-9; }

 private:
  void parse_edgepower(std::vector<std::string>& lines);
  void parse_edgeprofiler(std::vector<std::string>& lines);
  ReplayOptions options_;
  std::vector<int64_t> t_ns_;     // trace time, ascending
  std::vector<double> power_w_;   // n x rails
  std::vector<double> counter_j_; // n x rails or empty
  int64_t play_ns_ = 0;           // trace time played: span + the median sample interval
  int64_t start_ns_ = -1;         // wall time of the first read
  std::size_t cursor_ = 0;
};

}  // namespace edgepower
