// libFuzzer target: edgepower's trace CSV reader in the replay sensor. The input follows the
// "# edgepower trace v1" line, so the fuzzer spends its time inside the CSV format (meta line,
// header, rows, numbers) rather than on format detection. Never a crash; errors have a reason.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/sensors/replay.hpp"

using namespace edgepower;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string text = "# edgepower trace v1\n";
  text.append(reinterpret_cast<const char*>(data), size);
  ReplayOptions o;
  o.path = "fuzz.csv";
  o.speed = 1e9;
  ReplaySensor s(text, o);
  if (!s.info().available) {
    if (s.info().reason.empty()) std::abort();
    return 0;
  }
  if (s.info().details.at("format") != "edgepower trace v1") std::abort();
  std::vector<double> p(s.num_rails()), c(s.num_rails());
  try {
    s.read(p.data(), c.data());
    s.read(p.data(), c.data());
  } catch (const SensorExhausted&) {
  }
  return 0;
}
