#include "sensor.hpp"

#include <vector>

namespace edgepower {

void Sensor::require_available() const {
  if (!info_.available) {
    throw SensorUnavailable("sensor '" + info_.kind + "' is not available: " + info_.reason);
  }
}

void Sensor::set_unavailable(const std::vector<std::string>& problems, const std::string& fix) {
  std::string joined;
  for (const auto& p : problems) {
    if (joined.find(p) == std::string::npos) joined += (joined.empty() ? "" : "; ") + p;
  }
  info_.available = false;
  info_.reason = joined + (fix.empty() ? "" : ". " + fix);
}

void Sensor::probe_read(const std::string& fix) {
  std::vector<double> power(num_rails()), counter(num_rails());
  try {
    read(power.data(), counter.data());
  } catch (const SensorError& e) {
    info_.available = false;
    info_.reason = std::string(e.what()) + ". " + fix;
  }
}

}  // namespace edgepower
