#pragma once
// Clock shared by C++ and Python: nanoseconds of CLOCK_MONOTONIC, the same clock as
// std::chrono::steady_clock on Linux and Python's time.monotonic_ns().
#include <cstdint>
#include <ctime>

namespace edgepower {

/// Nanoseconds of CLOCK_MONOTONIC; thread-safe, no allocation.
inline int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

/// Sleeps until the absolute CLOCK_MONOTONIC time t_ns (retries on EINTR).
void sleep_until_ns(int64_t t_ns) noexcept;

}  // namespace edgepower
