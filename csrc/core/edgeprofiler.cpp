#include "core/edgeprofiler.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/energy.hpp"

namespace edgepower::edgeprofiler {

namespace {

constexpr int64_t kUsPerDay = 86400LL * 1000000LL;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

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

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static const unsigned kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

// Reads exactly `width` decimal digits at p; false if any is not a digit.
inline bool fixed_digits(const char* p, int width, unsigned* out) {
  unsigned v = 0;
  for (int i = 0; i < width; ++i) {
    const unsigned c = static_cast<unsigned char>(p[i]) - '0';
    if (c > 9) return false;
    v = v * 10 + c;
  }
  *out = v;
  return true;
}

inline bool is_space(char c) { return c == ' ' || c == '\t'; }

// A decimal number as Python's float() reads the common cases: spaces around it, an optional
// sign, digits with an optional fraction and exponent. Non-finite values are rejected: a power
// figure of NaN or infinity is a broken log, not data.
bool parse_number(std::string_view s, double* out) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  if (b < e && s[b] == '+') ++b;  // from_chars takes '-' but not '+'
  if (b == e) return false;
  double v = 0;
  const char* first = s.data() + b;
  const char* last = s.data() + e;
  auto res = std::from_chars(first, last, v);
  if (res.ec != std::errc() || res.ptr != last || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

std::string shown(std::string_view line) {
  constexpr std::size_t kMax = 80;
  std::string s(line.substr(0, kMax));
  if (line.size() > kMax) s += "...";
  return "'" + s + "'";
}

[[noreturn]] void fail_line(std::size_t line_no, std::string_view line, const std::string& why) {
  throw ParseError("power log line " + std::to_string(line_no) + ": " + why + " in " + shown(line) +
                       "; expected 'YYYYmmdd-HH:MM:SS.ffffff,<mV>,<mA>' (fraction of 1 to 6 digits)",
                   line_no);
}

}  // namespace

bool parse_timestamp_us(std::string_view s, int64_t* t_us) {
  // "YYYYmmdd-HH:MM:SS." is 18 characters, then 1 to 6 fraction digits.
  if (s.size() < 19 || s.size() > 24) return false;
  const char* p = s.data();
  unsigned year, month, day, hour, minute, second;
  if (!fixed_digits(p, 4, &year) || !fixed_digits(p + 4, 2, &month) || !fixed_digits(p + 6, 2, &day) ||
      p[8] != '-' || !fixed_digits(p + 9, 2, &hour) || p[11] != ':' || !fixed_digits(p + 12, 2, &minute) ||
      p[14] != ':' || !fixed_digits(p + 15, 2, &second) || p[17] != '.') {
    return false;
  }
  const int frac_digits = static_cast<int>(s.size()) - 18;
  unsigned frac;
  if (!fixed_digits(p + 18, frac_digits, &frac)) return false;
  for (int i = frac_digits; i < 6; ++i) frac *= 10;
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
      minute > 59 || second > 59) {
    return false;
  }
  *t_us = days_from_civil(year, month, day) * kUsPerDay +
          ((static_cast<int64_t>(hour) * 60 + minute) * 60 + second) * 1000000LL + frac;
  return true;
}

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

PowerLog parse_power_log(std::string_view text) {
  PowerLog log;
  // A line is about 38 bytes; reserving avoids regrowth on multi-million-line logs.
  const std::size_t guess = text.size() / 36 + 1;
  log.t_us.reserve(guess);
  log.voltage_mv.reserve(guess);
  log.current_ma.reserve(guess);
  log.line.reserve(guess);
  std::size_t pos = 0, line_no = 0;
  const std::size_t size = text.size();
  while (pos < size) {
    ++line_no;
    const char* nl = static_cast<const char*>(std::memchr(text.data() + pos, '\n', size - pos));
    const std::size_t end = nl ? static_cast<std::size_t>(nl - text.data()) : size;
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    // Like Python's str.strip() before splitting: surrounding blanks and a '\r' do not count.
    while (!line.empty() && (is_space(line.back()) || line.back() == '\r')) line.remove_suffix(1);
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    if (line.empty()) { ++log.blank_lines; continue; }
    const std::size_t c1 = line.find(',');
    const std::size_t c2 = c1 == std::string_view::npos ? c1 : line.find(',', c1 + 1);
    if (c2 == std::string_view::npos) fail_line(line_no, line, "expected 3 comma-separated fields");
    if (line.find(',', c2 + 1) != std::string_view::npos) fail_line(line_no, line, "more than 3 fields");
    int64_t t;
    if (!parse_timestamp_us(line.substr(0, c1), &t)) fail_line(line_no, line, "bad timestamp");
    double mv, ma;
    if (!parse_number(line.substr(c1 + 1, c2 - c1 - 1), &mv)) fail_line(line_no, line, "bad voltage (mV)");
    if (!parse_number(line.substr(c2 + 1), &ma)) fail_line(line_no, line, "bad current (mA)");
    if (!log.t_us.empty() && t < log.t_us.back()) {
      if (log.backward_steps++ == 0) log.first_backward_line = line_no;
    }
    log.t_us.push_back(t);
    log.voltage_mv.push_back(mv);
    log.current_ma.push_back(ma);
    log.line.push_back(static_cast<int64_t>(line_no));
  }
  return log;
}

PowerLog read_power_log(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open power log " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("cannot stat power log " + path + ": " + std::strerror(err));
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) { ::close(fd); return PowerLog{}; }
  // Mapping instead of reading saves copying a log of hundreds of MB; the parser only reads.
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) throw std::runtime_error("cannot map power log " + path + ": " + std::strerror(errno));
  ::madvise(map, size, MADV_SEQUENTIAL);
  struct Unmap {
    void* p; std::size_t n;
    ~Unmap() { ::munmap(p, n); }
  } guard{map, size};
  return parse_power_log(std::string_view(static_cast<const char*>(map), size));
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
