#include "compat/edgeprofiler.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/energy.hpp"

namespace edgepower::edgeprofiler {

namespace {

constexpr int64_t kUsPerDay = 86400LL * 1000000LL;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Date of a day count since 1970-01-01, proleptic Gregorian (Howard Hinnant's civil_from_days).
void civil_from_days(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

}  // namespace

std::string format_timestamp_us(int64_t t_us) {
  int64_t days = t_us / kUsPerDay;
  int64_t rem = t_us % kUsPerDay;
  if (rem < 0) { rem += kUsPerDay; --days; }
  int64_t y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  const int64_t sec = rem / 1000000, us = rem % 1000000;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld%02u%02u-%02lld:%02lld:%02lld.%06lld", static_cast<long long>(y), m, d,
                static_cast<long long>(sec / 3600), static_cast<long long>(sec / 60 % 60),
                static_cast<long long>(sec % 60), static_cast<long long>(us));
  return buf;
}

int64_t timedelta_ms_to_us(double ms) {
  if (!std::isfinite(ms)) throw std::invalid_argument("latency must be a finite number of milliseconds");
  // CPython's delta_new/accum: whole milliseconds are exact integers; the fraction is scaled by
  // 1000.0 in double arithmetic, its whole part added exactly, and the sub-microsecond leftover
  // rounded once on the total, half to even. Doing anything else (llround(ms * 1000)) differs
  // from upstream by one microsecond for some latencies, which moves window edges.
  double int_ms;
  const double frac_ms = std::modf(ms, &int_ms);
  int64_t x = static_cast<int64_t>(int_ms) * 1000;
  if (frac_ms == 0.0) return x;
  double int_us;
  const double leftover = std::modf(1000.0 * frac_ms, &int_us);
  x += static_cast<int64_t>(int_us);
  if (leftover != 0.0) {
    double whole = std::round(leftover);
    if (std::fabs(whole - leftover) == 0.5) {
      const int x_is_odd = static_cast<int>(x & 1);
      whole = 2.0 * std::round((leftover + x_is_odd) * 0.5) - x_is_odd;
    }
    x += static_cast<int64_t>(whole);
  }
  return x;
}

std::size_t compat_sweep(const int64_t* t, const double* p, std::size_t n, const int64_t* start,
                         const int64_t* end, std::size_t num_rows, double* mean, int64_t* count) {
  std::size_t i = 0;
  for (std::size_t r = 0; r < num_rows; ++r) {
    if (i >= n) return r;  // only reached when n == 0: nothing was ever read
    while (i < n && t[i] < start[r]) ++i;
    double sum = 0;
    int64_t k = 0;
    while (i < n && t[i] <= end[r]) { sum += p[i]; ++k; ++i; }
    mean[r] = k ? sum / static_cast<double>(k) : kNaN;
    count[r] = k;
    // Upstream stops at the end of the log: the row in progress is kept, the rest dropped.
    if (i >= n) return r + 1;
  }
  return num_rows;
}

void corrected_windows(const int64_t* t_us, const double* p_uw, std::size_t n, const int64_t* start_us,
                       const int64_t* end_us, std::size_t num_rows, double idle_uw, double* energy_uj,
                       double* energy_excl_uj, double* mean_uw, double* mean_excl_uw, int64_t* num_samples,
                       uint8_t* status) {
  // attribute_windows works in ns and watts; microwatts in give microjoules out, and microseconds
  // scale to ns exactly.
  std::vector<int64_t> t_ns(n), w0(num_rows), w1(num_rows);
  for (std::size_t i = 0; i < n; ++i) t_ns[i] = t_us[i] * 1000;
  for (std::size_t r = 0; r < num_rows; ++r) { w0[r] = start_us[r] * 1000; w1[r] = end_us[r] * 1000; }
  attribute_windows(t_ns.data(), p_uw, n, 1, w0.data(), w1.data(), num_rows, energy_uj, num_samples, status);
  for (std::size_t r = 0; r < num_rows; ++r) {
    const double duration_s = static_cast<double>(end_us[r] - start_us[r]) * 1e-6;
    energy_excl_uj[r] = net_energy(energy_uj[r], idle_uw, duration_s);
    mean_uw[r] = duration_s > 0 ? energy_uj[r] / duration_s : kNaN;
    mean_excl_uw[r] = mean_uw[r] - idle_uw;
  }
}

void append_repr_double(std::string& out, double x) {
  if (std::isnan(x)) { out += "nan"; return; }
  if (std::isinf(x)) { out += x < 0 ? "-inf" : "inf"; return; }
  // Shortest round-trip digits in scientific form ("d.ddde+XX"), then laid out as CPython's
  // float_repr_style 'short' does.
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  const char* p = buf;
  const char* stop = res.ptr;
  if (*p == '-') { out += '-'; ++p; }
  char digits[32];
  int nd = 0;
  for (; p < stop && *p != 'e'; ++p) {
    if (*p != '.') digits[nd++] = *p;
  }
  int exp10 = 0;
  std::from_chars(p + 1 + (p[1] == '+'), stop, exp10);
  const int decpt = exp10 + 1;  // value = 0.d1d2... * 10^decpt
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-decpt), '0');
      out.append(digits, static_cast<std::size_t>(nd));
    } else if (decpt >= nd) {
      out.append(digits, static_cast<std::size_t>(nd));
      out.append(static_cast<std::size_t>(decpt - nd), '0');
      out += ".0";
    } else {
      out.append(digits, static_cast<std::size_t>(decpt));
      out += '.';
      out.append(digits + decpt, static_cast<std::size_t>(nd - decpt));
    }
    return;
  }
  out += digits[0];
  if (nd > 1) {
    out += '.';
    out.append(digits + 1, static_cast<std::size_t>(nd - 1));
  }
  out += 'e';
  out += exp10 < 0 ? '-' : '+';
  const int a = exp10 < 0 ? -exp10 : exp10;
  if (a < 10) out += '0';
  out += std::to_string(a);
}

std::string repr_double(double x) {
  std::string s;
  append_repr_double(s, x);
  return s;
}

std::string render_power_log(const int64_t* t_us, const double* mv, const double* ma, std::size_t n) {
  std::string out;
  out.reserve(n * 40);
  for (std::size_t i = 0; i < n; ++i) {
    out += format_timestamp_us(t_us[i]);
    out += ',';
    append_repr_double(out, mv[i]);
    out += ',';
    append_repr_double(out, ma[i]);
    out += '\n';
  }
  return out;
}

namespace {
void append_field(std::string& out, const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) { out += s; return; }
  out += '"';
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}
}  // namespace

std::string render_csv(const std::vector<std::string>& header, const std::vector<CsvColumn>& columns,
                       std::size_t num_rows) {
  if (header.size() != columns.size()) {
    throw std::invalid_argument("render_csv: " + std::to_string(header.size()) + " header names for " +
                                std::to_string(columns.size()) + " columns");
  }
  std::string out;
  out.reserve(64 + num_rows * 48);
  for (std::size_t c = 0; c < header.size(); ++c) {
    if (c) out += ',';
    append_field(out, header[c]);
  }
  out += '\n';
  char ibuf[24];
  for (std::size_t r = 0; r < num_rows; ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (c) out += ',';
      const CsvColumn& col = columns[c];
      switch (col.kind) {
        case CsvColumn::Kind::Int: {
          const auto res = std::to_chars(ibuf, ibuf + sizeof ibuf, col.ints[r]);
          out.append(ibuf, res.ptr);
          break;
        }
        case CsvColumn::Kind::Float:
          if (!std::isnan(col.floats[r])) append_repr_double(out, col.floats[r]);
          break;
        case CsvColumn::Kind::Text: {
          const int32_t k = col.text_index[r];
          if (k < 0 || static_cast<std::size_t>(k) >= col.texts->size()) {
            throw std::invalid_argument("render_csv: text index " + std::to_string(k) + " out of range in column '" +
                                        header[c] + "'");
          }
          append_field(out, (*col.texts)[static_cast<std::size_t>(k)]);
          break;
        }
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace edgepower::edgeprofiler
