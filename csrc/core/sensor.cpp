#include "sensor.hpp"

namespace edgepower {

void Sensor::require_available() const {
  if (!info_.available) {
    throw SensorUnavailable("sensor '" + info_.kind + "' is not available: " + info_.reason);
  }
}

}  // namespace edgepower
