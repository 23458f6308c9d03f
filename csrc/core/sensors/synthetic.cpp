#include "synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "../clock.hpp"

namespace edgepower {

namespace {
constexpr double kNsToS = 1e-9;

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

SensorInfo make_info(std::string kind, std::string description, std::vector<std::string> rails,
                     const SyntheticOptions& o) {
  if (!(o.refresh_s >= 0) || !std::isfinite(o.refresh_s)) {
    throw std::invalid_argument("refresh_s must be a finite number >= 0 (0 = live values)");
  }
  if (!(o.noise_w >= 0) || !std::isfinite(o.noise_w)) throw std::invalid_argument("noise_w must be >= 0");
  if (!(o.counter_range_j >= 0)) throw std::invalid_argument("counter_range_j must be >= 0 (0 = no wrap)");
  SensorInfo info;
  info.kind = std::move(kind);
  info.description = std::move(description);
  info.rails = std::move(rails);
  if (!o.power && !o.counter) throw std::invalid_argument("a sensor needs power or a counter (counter=1)");
  info.has_power = o.power;
  info.has_counter = o.counter;
  info.counter_range_j = o.counter_range_j;
  info.update_interval_s = o.refresh_s > 0 ? o.refresh_s : std::numeric_limits<double>::quiet_NaN();
  info.estimated = false;
  info.details["synthetic"] = "true";
  if (o.noise_w > 0) info.details["noise_w"] = std::to_string(o.noise_w);
  return info;
}
}  // namespace

SyntheticSensor::SyntheticSensor(std::string kind, std::string description,
                                 std::vector<std::string> rails, const SyntheticOptions& options)
    : Sensor(make_info(std::move(kind), std::move(description), std::move(rails), options)),
      options_(options),
      origin_ns_(options.origin_ns >= 0 ? options.origin_ns : now_ns()),
      refresh_ns_(static_cast<int64_t>(std::llround(options.refresh_s * 1e9))),
      rng_(options.seed) {}

void SyntheticSensor::read(double* power_w, double* counter_j) {
  int64_t at = now_ns();
  if (refresh_ns_ > 0 && at > origin_ns_) at = origin_ns_ + floor_div(at - origin_ns_, refresh_ns_) * refresh_ns_;
  if (options_.power) power_at(at, power_w);
  if (options_.power && options_.noise_w > 0) {
    for (std::size_t r = 0; r < num_rails(); ++r) power_w[r] += options_.noise_w * noise_(rng_);
  }
  if (options_.counter) {
    energy_at(at, counter_j);
    if (options_.counter_range_j > 0) {
      for (std::size_t r = 0; r < num_rails(); ++r) {
        counter_j[r] = std::fmod(counter_j[r], options_.counter_range_j);
        if (counter_j[r] < 0) counter_j[r] += options_.counter_range_j;
      }
    }
  }
}

// ---- constant ----
static std::vector<std::string> default_rails(std::size_t n, std::vector<std::string> given) {
  if (!given.empty()) {
    if (given.size() != n) throw std::invalid_argument("need one rail name per level");
    return given;
  }
  if (n == 1) return {"total"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back("rail" + std::to_string(i));
  return out;
}

ConstantSensor::ConstantSensor(std::vector<double> watts, const SyntheticOptions& options,
                               std::vector<std::string> rails)
    : SyntheticSensor("synthetic-constant", "constant power (synthetic)",
                      default_rails(watts.size(), std::move(rails)), options),
      watts_(std::move(watts)) {
  if (watts_.empty()) throw std::invalid_argument("constant sensor needs at least one level (W)");
  for (double w : watts_) {
    if (!std::isfinite(w)) throw std::invalid_argument("constant sensor levels must be finite watts");
  }
}

void ConstantSensor::power_at(int64_t, double* out) { std::copy(watts_.begin(), watts_.end(), out); }

void ConstantSensor::energy_at(int64_t t, double* out) {
  for (std::size_t r = 0; r < watts_.size(); ++r) out[r] = watts_[r] * ((t - origin_ns_) * kNsToS);
}

// ---- square ----
SquareSensor::SquareSensor(double low_w, double high_w, double period_s, double duty,
                           const SyntheticOptions& options)
    : SyntheticSensor("synthetic-square", "square wave (synthetic)", {"total"}, options),
      low_w_(low_w), high_w_(high_w) {
  if (!(period_s > 0) || !std::isfinite(period_s)) throw std::invalid_argument("square wave period_s must be > 0");
  if (!(duty >= 0 && duty <= 1)) throw std::invalid_argument("square wave duty must be in [0, 1]");
  if (!std::isfinite(low_w) || !std::isfinite(high_w)) throw std::invalid_argument("square wave levels must be finite");
  period_ns_ = std::max<int64_t>(1, std::llround(period_s * 1e9));
  high_ns_ = std::llround(duty * static_cast<double>(period_ns_));
}

void SquareSensor::power_at(int64_t t, double* out) {
  const int64_t phase = (t - origin_ns_) - floor_div(t - origin_ns_, period_ns_) * period_ns_;
  out[0] = phase < high_ns_ ? high_w_ : low_w_;
}

void SquareSensor::energy_at(int64_t t, double* out) {
  const int64_t k = floor_div(t - origin_ns_, period_ns_);
  const int64_t rem = (t - origin_ns_) - k * period_ns_;
  const double per_period = (high_w_ * high_ns_ + low_w_ * (period_ns_ - high_ns_)) * kNsToS;
  const double part = rem < high_ns_ ? high_w_ * rem * kNsToS
                                     : (high_w_ * high_ns_ + low_w_ * (rem - high_ns_)) * kNsToS;
  out[0] = static_cast<double>(k) * per_period + part;
}

// ---- piecewise ----
PiecewiseSensor::PiecewiseSensor(std::vector<double> times_s, std::vector<double> watts, bool step,
                                 const SyntheticOptions& options)
    : SyntheticSensor("synthetic-piecewise", "piecewise profile (synthetic)", {"total"}, options),
      watts_(std::move(watts)), step_(step) {
  if (times_s.empty() || times_s.size() != watts_.size()) {
    throw std::invalid_argument("piecewise sensor needs as many times as levels, at least one");
  }
  for (std::size_t i = 0; i < times_s.size(); ++i) {
    if (!std::isfinite(times_s[i]) || !std::isfinite(watts_[i])) throw std::invalid_argument("piecewise times and levels must be finite");
    if (i && times_s[i] <= times_s[i - 1]) throw std::invalid_argument("piecewise times must be strictly ascending");
    t_ns_.push_back(origin_ns_ + std::llround(times_s[i] * 1e9));
  }
}

void PiecewiseSensor::power_at(int64_t t, double* out) {
  const auto it = std::upper_bound(t_ns_.begin(), t_ns_.end(), t);
  if (it == t_ns_.begin()) { out[0] = watts_.front(); return; }
  const std::size_t k = static_cast<std::size_t>(it - t_ns_.begin()) - 1;
  if (k + 1 >= t_ns_.size() || step_) { out[0] = watts_[k]; return; }
  const double f = static_cast<double>(t - t_ns_[k]) / static_cast<double>(t_ns_[k + 1] - t_ns_[k]);
  out[0] = watts_[k] + (watts_[k + 1] - watts_[k]) * f;
}

void PiecewiseSensor::energy_at(int64_t t, double* out) {
  // Integral over [lo, hi] of the profile, piece by piece.
  auto integral = [this](int64_t lo, int64_t hi) {
    double e = 0;
    double a_w, b_w;
    // Pieces: (-inf, t0), [tk, tk+1), [tlast, inf).
    for (std::size_t k = 0; k <= t_ns_.size(); ++k) {
      const int64_t ps = k == 0 ? std::numeric_limits<int64_t>::min() : t_ns_[k - 1];
      const int64_t pe = k == t_ns_.size() ? std::numeric_limits<int64_t>::max() : t_ns_[k];
      const int64_t a = std::max(lo, ps), b = std::min(hi, pe);
      if (b <= a) continue;
      power_at(a, &a_w);
      if (k == 0 || k == t_ns_.size() || step_) {
        b_w = a_w;
      } else {
        const double f = static_cast<double>(b - t_ns_[k - 1]) / static_cast<double>(t_ns_[k] - t_ns_[k - 1]);
        b_w = watts_[k - 1] + (watts_[k] - watts_[k - 1]) * f;
      }
      e += 0.5 * (a_w + b_w) * ((b - a) * kNsToS);
    }
    return e;
  };
  out[0] = t >= origin_ns_ ? integral(origin_ns_, t) : -integral(t, origin_ns_);
}

// ---- regions ----
RegionSensor::RegionSensor(TimelinePtr timeline, std::map<std::string, double> levels_w,
                           double idle_w, const SyntheticOptions& options)
    : SyntheticSensor("synthetic-regions", "power follows the active timeline region (synthetic)",
                      {"total"}, options),
      timeline_(std::move(timeline)), levels_w_(std::move(levels_w)), idle_w_(idle_w) {
  if (!timeline_) throw std::invalid_argument("region sensor needs a timeline");
  if (!std::isfinite(idle_w)) throw std::invalid_argument("idle_w must be finite");
  for (const auto& kv : levels_w_) {
    if (!std::isfinite(kv.second)) throw std::invalid_argument("level of region '" + kv.first + "' must be finite");
  }
  segments_.push_back(Segment{origin_ns_, idle_w_, 0.0});
}

void RegionSensor::catch_up() {
  std::vector<Mark> fresh = timeline_->marks(consumed_);
  if (fresh.empty()) return;
  consumed_ += fresh.size();
  std::stable_sort(fresh.begin(), fresh.end(), [](const Mark& a, const Mark& b) { return a.t_ns < b.t_ns; });
  for (const Mark& m : fresh) {
    if (m.kind == MarkKind::Begin) {
      active_.emplace_back(m.region, m.t_ns);
    } else {
      for (auto it = active_.rbegin(); it != active_.rend(); ++it) {
        if (it->first == m.region) { active_.erase(std::next(it).base()); break; }
      }
    }
    double power = idle_w_;
    for (auto it = active_.rbegin(); it != active_.rend(); ++it) {
      const auto lv = levels_w_.find(timeline_->region_name(it->first));
      if (lv != levels_w_.end()) { power = lv->second; break; }
    }
    const Segment& last = segments_.back();
    if (power == last.power_w) continue;
    const int64_t t = std::max(m.t_ns, last.t0_ns);
    segments_.push_back(Segment{t, power, last.energy_before_j + last.power_w * ((t - last.t0_ns) * kNsToS)});
  }
}

void RegionSensor::power_at(int64_t t, double* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  catch_up();
  auto it = std::upper_bound(segments_.begin(), segments_.end(), t,
                             [](int64_t x, const Segment& s) { return x < s.t0_ns; });
  out[0] = it == segments_.begin() ? idle_w_ : std::prev(it)->power_w;
}

void RegionSensor::energy_at(int64_t t, double* out) {
  std::lock_guard<std::mutex> lock(mutex_);
  catch_up();
  auto it = std::upper_bound(segments_.begin(), segments_.end(), t,
                             [](int64_t x, const Segment& s) { return x < s.t0_ns; });
  if (it == segments_.begin()) { out[0] = idle_w_ * ((t - origin_ns_) * kNsToS); return; }
  const Segment& s = *std::prev(it);
  out[0] = s.energy_before_j + s.power_w * ((t - s.t0_ns) * kNsToS);
}

// ---- failing wrapper ----
static SensorInfo failing_info(const SensorPtr& inner) {
  if (!inner) throw std::invalid_argument("failing sensor needs an inner sensor");
  SensorInfo info = inner->info();
  info.kind = "failing(" + info.kind + ")";
  return info;
}

FailingSensor::FailingSensor(SensorPtr inner, long ok_reads, long fail_reads, std::string message)
    : Sensor(failing_info(inner)), inner_(std::move(inner)), ok_reads_(ok_reads), fail_reads_(fail_reads),
      message_(std::move(message)) {}

void FailingSensor::read(double* power_w, double* counter_j) {
  const long i = reads_++;
  if (i >= ok_reads_ && (fail_reads_ < 0 || i < ok_reads_ + fail_reads_)) throw SensorError(message_);
  inner_->read(power_w, counter_j);
}

}  // namespace edgepower
