#include "marks.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace edgepower::record {

namespace {

const char* kGrammar =
    "a mark line is 'begin NAME [T_NS] [type=TYPE]', 'end NAME [T_NS] [calls=N]' or 'stop' "
    "(T_NS: CLOCK_MONOTONIC ns, e.g. Python's time.monotonic_ns())";

[[noreturn]] void bad(const std::string& line, const std::string& what) {
  std::string shown = line.size() > 80 ? line.substr(0, 80) + "..." : line;
  throw std::invalid_argument("bad mark line '" + shown + "': " + what + "; " + kGrammar);
}

bool to_int64(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

// Names end up in CSV comments and report rows: printable ASCII or UTF-8, no separators.
bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  for (unsigned char c : s) {
    if (c < 0x21 || c == 0x7f || c == ',' || c == '"') return false;
  }
  return true;
}

bool valid_type(const std::string& s) {
  if (s.empty() || s.size() > 100) return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace

MarkLine parse_mark_line(const std::string& raw, int64_t arrival_ns) {
  std::istringstream in(raw);
  std::vector<std::string> tokens;
  for (std::string t; in >> t;) tokens.push_back(t);
  MarkLine out;
  if (tokens.empty()) return out;
  if (tokens[0] == "stop") {
    if (tokens.size() != 1) bad(raw, "'stop' takes nothing after it");
    out.kind = LineKind::Stop;
    return out;
  }
  if (tokens[0] != "begin" && tokens[0] != "end") bad(raw, "it must start with begin, end or stop");
  Mark& m = out.mark;
  m.begin = tokens[0] == "begin";
  if (tokens.size() < 2) bad(raw, "a window name is missing");
  m.name = tokens[1];
  if (!valid_name(m.name)) bad(raw, "the name must be 1-200 characters without spaces, commas or quotes");
  bool have_t = false;
  for (std::size_t i = 2; i < tokens.size(); ++i) {
    const std::string& tok = tokens[i];
    const auto eq = tok.find('=');
    const std::string key = eq == std::string::npos ? "t_ns" : tok.substr(0, eq);
    const std::string value = eq == std::string::npos ? tok : tok.substr(eq + 1);
    if (key == "t_ns") {
      int64_t t = 0;
      if (have_t) bad(raw, "the time is given twice");
      if (!to_int64(value, &t) || t <= 0) bad(raw, "'" + value + "' is not a time in ns (a positive integer)");
      m.t_ns = t;
      have_t = true;
    } else if (key == "calls") {
      int64_t n = 0;
      if (m.begin) bad(raw, "calls= belongs on the end line (the count is known after the loop)");
      if (!to_int64(value, &n) || n < 1 || n > 1000000000) bad(raw, "calls must be a count from 1, got '" + value + "'");
      m.calls = static_cast<long>(n);
    } else if (key == "type") {
      if (!m.begin) bad(raw, "type= belongs on the begin line");
      if (!valid_type(value)) bad(raw, "type must be a class name like Conv2d, got '" + value + "'");
      m.type = value;
    } else {
      bad(raw, "unknown field '" + key + "' (known: t_ns, calls, type)");
    }
  }
  if (have_t) {
    if (m.t_ns > arrival_ns + kMaxClockSkewNs || m.t_ns < arrival_ns - kMaxClockSkewNs) {
      std::ostringstream msg;
      msg << "t_ns " << m.t_ns << " is " << (static_cast<double>(m.t_ns) - static_cast<double>(arrival_ns)) * 1e-9
          << " s from the recorder's CLOCK_MONOTONIC (" << arrival_ns
          << "): send time.monotonic_ns() of this machine, not wall-clock time";
      bad(raw, msg.str());
    }
  } else {
    m.t_ns = arrival_ns;
    m.stamped_on_arrival = true;
  }
  out.kind = LineKind::Mark;
  return out;
}

std::string format_mark(const Mark& m) {
  return std::to_string(m.t_ns) + (m.begin ? ",begin," : ",end,") + m.name + "," +
         (m.calls > 0 ? std::to_string(m.calls) : std::string()) + "," + m.type + "," +
         (m.stamped_on_arrival ? "arrival" : "sender");
}

void LineSplitter::feed(const char* data, std::size_t n, std::vector<std::string>* lines) {
  for (std::size_t i = 0; i < n; ++i) {
    const char c = data[i];
    if (c == '\n') {
      if (!skipping_) lines->push_back(std::move(partial_));
      partial_.clear();
      skipping_ = false;
    } else if (skipping_) {
      continue;
    } else if (partial_.size() >= kMaxMarkLine) {
      lines->push_back(std::move(partial_));  // fails to parse, visibly; the rest is dropped
      partial_.clear();
      skipping_ = true;
    } else {
      partial_.push_back(c);
    }
  }
}

bool LineSplitter::flush(std::string* line) {
  skipping_ = false;
  if (partial_.empty()) return false;
  *line = std::move(partial_);
  partial_.clear();
  return true;
}

}  // namespace edgepower::record
