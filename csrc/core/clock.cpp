#include "clock.hpp"

#include <cerrno>

namespace edgepower {

void sleep_until_ns(int64_t t_ns) noexcept {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(t_ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(t_ns % 1000000000LL);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

}  // namespace edgepower
