// libFuzzer target: the replay sensor's trace reader (csrc/core/sensors/replay), both formats
// (edgepower trace CSV and EdgeProfiler power log, detected from the first line), then the play:
// construct the sensor from the text, with and without loop, and read it.
// Any input must give a trace or an unavailable sensor with a reason; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/sensors/replay.hpp"

using namespace edgepower;

namespace {
void check_trace(std::string_view text) {
  try {
    const ReplayTrace tr = parse_replay_trace(text, "fuzz");
    const std::size_t n = tr.t_ns.size(), rails = tr.info.rails.size();
    if (n == 0 || rails == 0) std::abort();
    if (tr.power_w.size() != n * rails) std::abort();
    if (!tr.counter_j.empty() && tr.counter_j.size() != n * rails) std::abort();
    for (std::size_t i = 1; i < n; ++i) {
      if (tr.t_ns[i] < tr.t_ns[i - 1]) std::abort();
    }
  } catch (const SensorUnavailable& e) {
    if (e.what()[0] == '\0') std::abort();
  }
}

void play(std::string_view text, bool loop) {
  ReplayOptions o;
  o.path = "fuzz";
  o.speed = 1e6;  // a fast play reaches the end (or the next lap) within the reads below
  o.loop = loop;
  ReplaySensor s(text, o);
  if (!s.info().available) {
    if (s.info().reason.empty()) std::abort();
    return;
  }
  std::vector<double> p(s.num_rails()), c(s.num_rails());
  for (int i = 0; i < 3; ++i) {
    try {
      s.read(p.data(), c.data());
    } catch (const SensorExhausted&) {
      if (loop) std::abort();  // a looped replay never ends
      return;
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  check_trace(text);
  play(text, false);
  play(text, true);
  return 0;
}
