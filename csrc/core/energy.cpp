#include "energy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace edgepower {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kNsToS = 1e-9;

EnergyResult failed(EnergyStatus s, int64_t t0, int64_t t1, std::size_t samples = 0) {
  return EnergyResult{kNaN, (t1 - t0) * kNsToS, kNaN, samples, s};
}

// Value of the sampled signal at t, linear between samples k and k+1 (t[k] <= t <= t[k+1]).
double interpolate(const int64_t* t, const double* v, std::size_t stride, std::size_t k,
                   std::size_t n, int64_t at) {
  if (t[k] == at || k + 1 >= n) return v[k * stride];
  if (t[k + 1] == at) return v[(k + 1) * stride];
  const double a = v[k * stride], b = v[(k + 1) * stride];
  const double f = static_cast<double>(at - t[k]) / static_cast<double>(t[k + 1] - t[k]);
  return a + (b - a) * f;
}

EnergyStatus coverage(const int64_t* t, std::size_t n, int64_t t0, int64_t t1) {
  if (n == 0) return EnergyStatus::NoSamples;
  if (t1 < t0) return EnergyStatus::Reversed;
  if (t0 < t[0]) return EnergyStatus::BeforeFirstSample;
  if (t1 > t[n - 1]) return EnergyStatus::AfterLastSample;
  return EnergyStatus::Ok;
}

std::size_t count_in(const int64_t* t, std::size_t n, int64_t t0, int64_t t1) {
  return static_cast<std::size_t>(std::upper_bound(t, t + n, t1) - std::lower_bound(t, t + n, t0));
}

EnergyResult finish(double energy, int64_t t0, int64_t t1, std::size_t samples) {
  if (!std::isfinite(energy)) return failed(EnergyStatus::NotFinite, t0, t1, samples);
  const double d = (t1 - t0) * kNsToS;
  return EnergyResult{energy, d, d > 0 ? energy / d : kNaN, samples, EnergyStatus::Ok};
}
}  // namespace

std::string status_message(EnergyStatus s) {
  switch (s) {
    case EnergyStatus::Ok: return "ok";
    case EnergyStatus::NoSamples: return "no samples were recorded";
    case EnergyStatus::BeforeFirstSample:
      return "the window starts before the first sample: start the monitor earlier";
    case EnergyStatus::AfterLastSample:
      return "the window ends after the last sample: keep the monitor running until a sample "
             "follows the window's end";
    case EnergyStatus::Reversed: return "the window ends before it starts";
    case EnergyStatus::NotFinite: return "a sample inside the window is NaN or infinite";
    case EnergyStatus::Unsorted: return "sample timestamps are not in ascending order";
    case EnergyStatus::CounterReset:
      return "the energy counter reset inside the window (it dropped by more than its wrap range "
             "explains, or stepped by more than the sensor's power bound allows): the energy across a "
             "reset is unknown; measure again, or use windows that do not span the reset";
  }
  return "unknown status";
}

EnergyResult integrate_power(const int64_t* t, const double* p, std::size_t n, std::size_t stride,
                             int64_t t0, int64_t t1) {
  const EnergyStatus cov = coverage(t, n, t0, t1);
  const std::size_t samples = (n && t1 >= t0) ? count_in(t, n, t0, t1) : 0;
  if (cov != EnergyStatus::Ok) return failed(cov, t0, t1, samples);
  // i0: last sample at or before t0; i1: first sample at or after t1.
  const std::size_t i0 = static_cast<std::size_t>(std::upper_bound(t, t + n, t0) - t) - 1;
  const std::size_t i1 = static_cast<std::size_t>(std::lower_bound(t, t + n, t1) - t);
  const double p0 = interpolate(t, p, stride, i0, n, t0);
  const double p1 = i1 == 0 ? p[0] : interpolate(t, p, stride, i1 - 1, n, t1);
  if (i1 <= i0 + 1) {  // no sample strictly inside (t0, t1)
    return finish(0.5 * (p0 + p1) * ((t1 - t0) * kNsToS), t0, t1, samples);
  }
  double twice = (p0 + p[(i0 + 1) * stride]) * static_cast<double>(t[i0 + 1] - t0);
  for (std::size_t k = i0 + 1; k + 1 < i1; ++k) {
    const int64_t dt = t[k + 1] - t[k];
    if (dt < 0) return failed(EnergyStatus::Unsorted, t0, t1, samples);
    twice += (p[k * stride] + p[(k + 1) * stride]) * static_cast<double>(dt);
  }
  twice += (p[(i1 - 1) * stride] + p1) * static_cast<double>(t1 - t[i1 - 1]);
  return finish(0.5 * twice * kNsToS, t0, t1, samples);
}

double counter_delta(double c0, double c1, double range) {
  double d = c1 - c0;
  if (d < 0 && range > 0) d += range;
  return d;
}

void unwrap_counter(const double* c, std::size_t n, std::size_t stride, double range, double* out) {
  if (n == 0) return;
  out[0] = 0.0;
  for (std::size_t i = 1; i < n; ++i) out[i] = out[i - 1] + counter_delta(c[(i - 1) * stride], c[i * stride], range);
}

CounterStep classify_counter_step(double c0, double c1, double dt_s, double range, double max_power_w) {
  if (!std::isfinite(c0) || !std::isfinite(c1)) return CounterStep::Ok;
  double d = c1 - c0;
  CounterStep kind = CounterStep::Ok;
  if (d < 0) {
    if (!(range > 0)) return CounterStep::Reset;
    d += range;
    if (d < 0 || d > 0.5 * range) return CounterStep::Reset;
    kind = CounterStep::Wrap;
  }
  if (max_power_w > 0 && std::isfinite(max_power_w) && dt_s > 0 && d > max_power_w * dt_s) return CounterStep::Reset;
  return kind;
}

EnergyResult counter_energy(const int64_t* t, const double* c, std::size_t n, std::size_t stride,
                            double range, int64_t t0, int64_t t1, double max_power_w, double update_interval_s) {
  const EnergyStatus cov = coverage(t, n, t0, t1);
  if (cov != EnergyStatus::Ok) return failed(cov, t0, t1, (n && t1 >= t0) ? count_in(t, n, t0, t1) : 0);
  const std::size_t i0 = static_cast<std::size_t>(std::upper_bound(t, t + n, t0) - t) - 1;
  const std::size_t i1 = static_cast<std::size_t>(std::lower_bound(t, t + n, t1) - t);
  // Unwrap only the readings the window needs; classify each step on the way. The time a
  // step's energy accumulated over runs from the last change of the counter (a counter that
  // steps every 100 ms read at 1 kHz shows 100 ms of energy in one 1 ms step).
  const std::size_t lo = i0, len = std::min(n - 1, i1) - i0 + 1;
  const double update_s = std::isfinite(update_interval_s) && update_interval_s > 0 ? update_interval_s : 0.0;
  std::vector<double> cum(len);
  std::vector<std::size_t> resets;  // k: a reset between readings lo + k - 1 and lo + k
  cum[0] = 0.0;
  // The power bound needs the time since the counter last changed; before the first change
  // seen in the readings that time is unknown, so only the drop rules apply to that step.
  int64_t last_change = t[lo];
  bool change_known = false;
  for (std::size_t j = lo; j > 0 && j + 64 > lo; --j) {
    if (c[(j - 1) * stride] != c[j * stride]) { change_known = true; break; }
    last_change = t[j - 1];
  }
  for (std::size_t k = 1; k < len; ++k) {
    const double a = c[(lo + k - 1) * stride], b = c[(lo + k) * stride];
    const int64_t tk = t[lo + k];
    const double dt_s = static_cast<double>(tk - last_change) * kNsToS + update_s;
    const CounterStep step =
        a == b ? CounterStep::Ok : classify_counter_step(a, b, dt_s, range, change_known ? max_power_w : 0.0);
    if (step == CounterStep::Reset) {
      resets.push_back(k);
      cum[k] = cum[k - 1];
    } else {
      cum[k] = cum[k - 1] + counter_delta(a, b, range);
    }
    if (a != b) { last_change = tk; change_known = true; }
  }
  auto at = [&](int64_t x) {
    const std::size_t k = static_cast<std::size_t>(std::upper_bound(t + lo, t + lo + len, x) - (t + lo)) - 1;
    return interpolate(t + lo, cum.data(), 1, k, len, x);
  };
  const std::size_t samples = count_in(t, n, t0, t1);
  if (resets.empty()) return finish(at(t1) - at(t0), t0, t1, samples);
  // Split at the resets: the pieces of [t0, t1] between them are measured; the gaps
  // (t[k-1], t[k]) around each reset are not.
  EnergyResult r = failed(EnergyStatus::CounterReset, t0, t1, samples);
  r.counter_resets = resets.size();
  int64_t piece0 = t0;
  double partial = 0.0, gap_s = 0.0;
  for (std::size_t k : resets) {
    const int64_t before = std::max(t0, t[lo + k - 1]), after = std::min(t1, t[lo + k]);
    if (before > piece0) partial += at(before) - at(piece0);
    if (after > before) gap_s += static_cast<double>(after - before) * kNsToS;
    piece0 = std::max(piece0, after);
  }
  if (t1 > piece0) partial += at(t1) - at(piece0);
  r.partial_energy_j = partial;
  r.gap_s = gap_s;
  return r;
}

void attribute_windows(const int64_t* t, const double* p, std::size_t n, std::size_t stride,
                       const int64_t* w0, const int64_t* w1, std::size_t nw, double* energy,
                       int64_t* num_samples, uint8_t* status) {
  // Edges sorted by time: entry e < nw is the start of window e, else the end of window e - nw.
  std::vector<std::pair<int64_t, uint32_t>> edges(2 * nw);
  for (std::size_t w = 0; w < nw; ++w) {
    edges[w] = {w0[w], static_cast<uint32_t>(w)};
    edges[w + nw] = {w1[w], static_cast<uint32_t>(w + nw)};
  }
  std::sort(edges.begin(), edges.end());
  // One forward sweep over the samples, which both finds each edge and integrates up to it:
  // `cum` is the trapezoid from t[0] to t[k], with non-finite intervals counted as 0 and
  // tallied in `bad`, so one NaN poisons only the windows that touch it. At each edge we record
  // the cumulative energy there; a window's energy is its end's minus its start's.
  std::vector<double> f(2 * nw);
  std::vector<std::size_t> idx(2 * nw);  // first sample >= x for starts, first > x for ends
  std::vector<uint32_t> bad_at(2 * nw);
  std::vector<uint8_t> edge_ok(2 * nw);
  double cum = 0.0;
  uint32_t bad = 0;
  bool unsorted = false;
  std::size_t k = 0;  // last sample at or before the current edge
  for (const auto& edge : edges) {
    const int64_t x = edge.first;
    const uint32_t e = edge.second;
    if (n == 0 || x < t[0] || x > t[n - 1]) {
      idx[e] = (n == 0 || x < t[0]) ? 0 : n;
      edge_ok[e] = 0;
      f[e] = kNaN;
      continue;
    }
    double twice = 0.0;
    std::size_t i = k;
    for (; i + 1 < n && t[i + 1] <= x; ++i) {
      unsorted |= t[i + 1] < t[i];
      twice += (p[i * stride] + p[(i + 1) * stride]) * static_cast<double>(t[i + 1] - t[i]);
    }
    if (std::isfinite(twice)) {
      cum += 0.5 * twice * kNsToS;
    } else {  // rare: redo interval by interval to count the bad ones
      for (std::size_t j = k; j < i; ++j) {
        const double area = 0.5 * (p[j * stride] + p[(j + 1) * stride]) * ((t[j + 1] - t[j]) * kNsToS);
        if (std::isfinite(area)) cum += area; else ++bad;
      }
    }
    k = i;
    std::size_t lb = k + 1;
    if (t[k] == x) {
      lb = k;
      while (lb > 0 && t[lb - 1] == x) --lb;
    }
    idx[e] = e < nw ? lb : k + 1;
    const double px = interpolate(t, p, stride, k, n, x);
    const double part = 0.5 * (p[k * stride] + px) * ((x - t[k]) * kNsToS);
    f[e] = cum + part;
    bad_at[e] = bad;
    edge_ok[e] = std::isfinite(part) ? 1 : 0;
  }
  for (std::size_t w = 0; w < nw; ++w) {
    const std::size_t s = w, e = w + nw;
    num_samples[w] = static_cast<int64_t>(idx[e] >= idx[s] ? idx[e] - idx[s] : 0);
    EnergyStatus st = unsorted ? EnergyStatus::Unsorted : coverage(t, n, w0[w], w1[w]);
    if (st == EnergyStatus::Ok && (!edge_ok[s] || !edge_ok[e] || bad_at[e] != bad_at[s])) {
      st = EnergyStatus::NotFinite;
    }
    status[w] = static_cast<uint8_t>(st);
    energy[w] = st == EnergyStatus::Ok ? f[e] - f[s] : kNaN;
  }
}

namespace {
// Regularized incomplete beta I_x(a, b) by the continued fraction (modified Lentz).
double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 300; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d; if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c; if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d; h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d; if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c; if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < 1e-15) break;
  }
  return h;
}

double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_cf(a, b, x) / a;
  return 1.0 - front * beta_cf(b, a, 1.0 - x) / b;
}

double student_t_cdf(double t, double df) {
  const double tail = 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
  return t >= 0 ? 1.0 - tail : tail;
}
}  // namespace

double student_t_quantile(double p, double df) {
  if (!(p > 0 && p < 1)) throw std::invalid_argument("student_t_quantile: p must be in (0, 1)");
  if (!(df >= 1)) throw std::invalid_argument("student_t_quantile: df must be >= 1");
  if (p == 0.5) return 0.0;
  if (p < 0.5) return -student_t_quantile(1.0 - p, df);
  double lo = 0, hi = 1;
  while (student_t_cdf(hi, df) < p) hi *= 2;
  for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

RepeatStats repeat_stats(const double* v, std::size_t n) {
  RepeatStats s;
  s.n = n;
  if (n == 0) { s.mean = s.stddev = s.ci95_half_width = kNaN; return s; }
  double mean = 0;
  for (std::size_t i = 0; i < n; ++i) mean += (v[i] - mean) / static_cast<double>(i + 1);
  s.mean = mean;
  if (n < 2) { s.stddev = s.ci95_half_width = kNaN; return s; }
  double ss = 0;
  for (std::size_t i = 0; i < n; ++i) ss += (v[i] - mean) * (v[i] - mean);
  s.stddev = std::sqrt(ss / static_cast<double>(n - 1));
  s.ci95_half_width = student_t_quantile(0.975, static_cast<double>(n - 1)) * s.stddev / std::sqrt(static_cast<double>(n));
  return s;
}

}  // namespace edgepower

namespace edgepower {

void assign_samples_innermost(const int64_t* t, const double* p, std::size_t n, std::size_t stride,
                              const int64_t* w0, const int64_t* w1, std::size_t nw, int64_t* num_samples,
                              double* power_sum_w, int64_t* owner) {
  for (std::size_t i = 1; i < n; ++i) {
    if (t[i] < t[i - 1]) {
      throw std::invalid_argument("sample timestamps go backwards at index " + std::to_string(i) +
                                  "; sort the samples by time");
    }
  }
  for (std::size_t w = 0; w < nw; ++w) {
    num_samples[w] = 0;
    power_sum_w[w] = 0.0;
  }
  // Begins by (t0, index) so that among windows begun at the same time the later index is the
  // innermost; ends by t1.
  std::vector<uint32_t> by_begin(nw), by_end(nw);
  for (std::size_t w = 0; w < nw; ++w) by_begin[w] = by_end[w] = static_cast<uint32_t>(w);
  std::sort(by_begin.begin(), by_begin.end(), [&](uint32_t a, uint32_t b) {
    return w0[a] != w0[b] ? w0[a] < w0[b] : a < b;
  });
  std::sort(by_end.begin(), by_end.end(), [&](uint32_t a, uint32_t b) { return w1[a] < w1[b]; });
  // Active windows in begin order; the innermost is the back. Depth is small (layer inside the
  // model), so removal scans from the back.
  std::vector<uint32_t> active;
  std::vector<uint8_t> ended(nw, 0);
  std::size_t nb = 0, ne = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int64_t x = t[i];
    // Begin every window with t0 <= x, then end every window with t1 <= x: a window [t0, t1)
    // holds x only if t0 <= x < t1, and a zero-length window never holds a sample.
    while (nb < nw && w0[by_begin[nb]] <= x) {
      const uint32_t w = by_begin[nb++];
      if (!ended[w]) active.push_back(w);
    }
    while (ne < nw && w1[by_end[ne]] <= x) {
      const uint32_t w = by_end[ne++];
      ended[w] = 1;
      for (std::size_t j = active.size(); j-- > 0;) {
        if (active[j] == w) { active.erase(active.begin() + static_cast<std::ptrdiff_t>(j)); break; }
      }
    }
    const double v = p[i * stride];
    int64_t who = -1;
    if (!active.empty() && std::isfinite(v)) {
      who = active.back();
      num_samples[who] += 1;
      power_sum_w[who] += v;
    }
    if (owner != nullptr) owner[i] = who;
  }
}

}  // namespace edgepower
