// libFuzzer target: EdgeProfiler's power log parser (csrc/core/sensors/edgeprofiler_log).
// Any input must parse or throw ParseError with a message and a line; anything else (a crash,
// another exception, a sanitizer report, a broken invariant) is a finding. Run: scripts/fuzz.sh
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/sensors/edgeprofiler_log.hpp"

namespace ep = edgepower::edgeprofiler;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const ep::PowerLog log = ep::parse_power_log(text);
    const std::size_t n = log.t_us.size();
    if (log.voltage_mv.size() != n || log.current_ma.size() != n || log.line.size() != n) std::abort();
    for (std::size_t i = 1; i < n; ++i) {
      if (log.line[i] <= log.line[i - 1]) std::abort();
    }
    if ((log.backward_steps == 0) != (log.first_backward_line == 0)) std::abort();
  } catch (const ep::ParseError& e) {
    if (e.line() == 0 || e.what()[0] == '\0') std::abort();
  }
  // The timestamp parser alone, on the first field.
  int64_t t = 0;
  ep::parse_timestamp_us(text.substr(0, text.find(',')), &t);
  return 0;
}
