#include "edgeprofiler_log.hpp"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace edgepower::edgeprofiler {

namespace {

constexpr int64_t kUsPerDay = 86400LL * 1000000LL;

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
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

// The line as quoted in an error: bytes that are not printable ASCII become '?', so the message is
// always valid text (Python decodes it as UTF-8: a raw byte such as 0xc8 made the ParseError itself
// fail with UnicodeDecodeError; found by fuzzing from Python, tests/fuzz/python/).
std::string shown(std::string_view line) {
  constexpr std::size_t kMax = 80;
  std::string s;
  for (char c : line.substr(0, kMax)) s += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
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

}  // namespace edgepower::edgeprofiler
