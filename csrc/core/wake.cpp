#include "wake.hpp"

#include <algorithm>

#include "clock.hpp"

namespace edgepower {

int64_t PreciseWake::lead_ns() const noexcept {
  const auto q = static_cast<int64_t>(long_.value()) + kLeadMarginNs;
  return std::clamp(q, kMinLeadNs, kMaxLeadNs);
}

int64_t PreciseWake::short_ns() const noexcept {
  return std::clamp(static_cast<int64_t>(short_.value()), int64_t{0}, kMaxShortNs);
}

int64_t PreciseWake::sleep_until(int64_t t_ns, const std::atomic<bool>& stop, int64_t slice_ns, int64_t* spun_ns) {
  int64_t now = now_ns();
  const int64_t lead = lead_ns();
  if (t_ns - now > lead) {
    const int64_t stage1 = t_ns - lead;
    while (now < stage1) {
      const int64_t until = std::min(stage1, now + slice_ns);
      sleep_until_ns(until);
      now = now_ns();
      if (stop.load(std::memory_order_acquire)) return now;
      if (until == stage1) observe_long(now - stage1);
    }
  }
  const int64_t s = short_ns();
  if (t_ns - now > s) {
    const int64_t stage2 = t_ns - s;
    sleep_until_ns(stage2);
    now = now_ns();
    observe_short(now - stage2);
  }
  const int64_t spin_from = now;
  while (now < t_ns) now = now_ns();
  if (spun_ns) *spun_ns += now - spin_from;
  return now;
}

}  // namespace edgepower
