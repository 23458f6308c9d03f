#include "replay.hpp"

#include "edgeprofiler_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "../clock.hpp"
#include "../energy.hpp"

namespace edgepower {

namespace {
constexpr const char* kMagic = "# edgepower trace v1";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(s);
  while (std::getline(in, cell, sep)) out.push_back(cell);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// A number or "nan" (a rail without power is written as nan); infinities are not data.
bool parse_double(const std::string& s, double* out) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return *end == '\0' && !std::isinf(*out);
}

bool parse_i64(const std::string& s, int64_t* out) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  *out = std::strtoll(t.c_str(), &end, 10);
  return *end == '\0' && errno != ERANGE;
}

bool json_scalar(const std::string& json, const std::string& key, std::string* out) {
  const std::size_t k = json.find("\"" + key + "\"");
  if (k == std::string::npos) return false;
  std::size_t c = json.find(':', k);
  if (c == std::string::npos) return false;
  std::size_t e = json.find_first_of(",}", c + 1);
  *out = trim(json.substr(c + 1, e == std::string::npos ? std::string::npos : e - c - 1));
  if (out->size() >= 2 && out->front() == '"' && out->back() == '"') *out = out->substr(1, out->size() - 2);
  return true;
}

std::string where(const std::string& name, std::size_t lineno) { return name + ":" + std::to_string(lineno); }

std::string shown(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return "'" + out + (s.size() > 60 ? "...'" : "'");
}

// Printable text: ASCII from ' ' to '~', or well-formed UTF-8 beyond it. Rail names and the recorded
// sensor's kind become Python str (a raw byte such as 0xff made reading info.rails raise
// UnicodeDecodeError; found by fuzzing from Python, tests/fuzz/python/fuzz_py_replay.py).
bool is_text(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    const std::size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
    if (n == 0 || (n == 3 && c > 0xef) || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    const auto c1 = static_cast<unsigned char>(s[i + 1]);
    if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) || (c == 0xf4 && c1 > 0x8f)) {
      return false;  // overlong, UTF-16 surrogate, beyond U+10FFFF
    }
    i += n;
  }
  return true;
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string line(text.substr(pos, nl - pos));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = nl + 1;
  }
  return lines;
}

// ``unterminated``: the text does not end in a newline, so its last line may be a sample cut
// short by a writer still writing or killed mid-line ("5.2" of "5.25" still parses). That line
// is left out and counted in details, as edgepower.trace.read_trace does.
void parse_edgepower(const std::vector<std::string>& lines, const std::string& name, bool unterminated,
                     ReplayTrace* tr) {
  SensorInfo& info = tr->info;
  info.details["format"] = "edgepower trace v1";
  std::vector<std::string> header;
  std::string meta;
  std::size_t n_power = 0, n_counter = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    if (line.empty()) continue;
    if (line.rfind("# meta:", 0) == 0) { meta = line.substr(7); continue; }
    if (line[0] == '#') continue;
    if (unterminated && i + 1 == lines.size() && !header.empty()) {
      info.details["unfinished_last_line_bytes"] = std::to_string(lines[i].size());
      break;
    }
    std::vector<std::string> cells = split(line, ',');
    if (header.empty()) {
      header = cells;
      if (header.size() < 3 || header[0] != "t_ns" || header[1] != "read_ns") {
        throw SensorUnavailable(where(name, i + 1) + ": header must be t_ns,read_ns,power_w:<rail>..., got " + shown(line));
      }
      for (std::size_t c = 2; c < header.size(); ++c) {
        if (header[c].rfind("power_w:", 0) == 0 && n_counter == 0) {
          if (!is_text(header[c])) {
            throw SensorUnavailable(where(name, i + 1) + ": rail name " + shown(header[c].substr(8)) +
                                    " is not printable text (UTF-8)");
          }
          info.rails.push_back(header[c].substr(8));
          ++n_power;
        } else if (header[c].rfind("counter_j:", 0) == 0) {
          ++n_counter;
        } else {
          throw SensorUnavailable(where(name, i + 1) + ": unexpected column " + shown(header[c]) +
                                  " (expected power_w:<rail> then counter_j:<rail>)");
        }
      }
      if (n_power == 0) throw SensorUnavailable(where(name, i + 1) + ": no power_w:<rail> column");
      if (n_counter != 0 && n_counter != n_power) {
        throw SensorUnavailable(where(name, i + 1) + ": " + std::to_string(n_counter) + " counter_j columns for " +
                                std::to_string(n_power) + " rails");
      }
      continue;
    }
    if (cells.size() != header.size()) {
      throw SensorUnavailable(where(name, i + 1) + ": " + std::to_string(cells.size()) + " fields, the header has " +
                              std::to_string(header.size()));
    }
    int64_t t;
    if (!parse_i64(cells[0], &t)) throw SensorUnavailable(where(name, i + 1) + ": t_ns " + shown(cells[0]) + " is not an integer");
    if (!tr->t_ns.empty() && t < tr->t_ns.back()) throw SensorUnavailable(where(name, i + 1) + ": timestamps go backwards");
    int64_t span;
    if (!tr->t_ns.empty() && __builtin_sub_overflow(t, tr->t_ns.front(), &span)) {
      throw SensorUnavailable(where(name, i + 1) + ": t_ns spans more than 292 years from the first sample");
    }
    tr->t_ns.push_back(t);
    for (std::size_t c = 2; c < cells.size(); ++c) {
      double v;
      if (!parse_double(cells[c], &v)) {
        throw SensorUnavailable(where(name, i + 1) + ": " + shown(cells[c]) + " in column " + header[c] +
                                " is not a finite number (or nan)");
      }
      (c < 2 + n_power ? tr->power_w : tr->counter_j).push_back(v);
    }
  }
  if (header.empty()) throw SensorUnavailable(name + ": no header line (t_ns,read_ns,power_w:<rail>...)");
  info.has_power = true;
  info.has_counter = n_counter > 0;
  std::string v;
  auto number = [&](const char* key, double* out) {
    if (!json_scalar(meta, key, &v)) return;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (end == v.c_str() || *end != '\0' || !std::isfinite(x) || x < 0) {
      throw SensorUnavailable(name + ": meta " + key + " is " + shown(v) + ", not a number >= 0");
    }
    *out = x;
  };
  number("counter_range_j", &info.counter_range_j);
  number("max_power_w", &info.max_power_w);
  if (json_scalar(meta, "estimated", &v)) info.estimated = v == "true";
  if (json_scalar(meta, "total_rail", &v)) {
    const long tr_ = std::strtol(v.c_str(), nullptr, 10);
    info.total_rail = tr_ >= 0 && static_cast<std::size_t>(tr_) < info.rails.size() ? static_cast<int>(tr_) : -1;
  }
  if (json_scalar(meta, "kind", &v)) {
    if (!is_text(v)) throw SensorUnavailable(name + ": meta kind " + shown(v) + " is not printable text (UTF-8)");
    info.details["recorded_sensor"] = v;
  }
}

void parse_edgeprofiler(std::string_view text, const std::string& name, ReplayTrace* tr) {
  SensorInfo& info = tr->info;
  info.details["format"] = "EdgeProfiler power log (mV, mA)";
  info.rails = {"total"};
  info.total_rail = 0;
  info.has_power = true;
  info.has_counter = false;
  // The same parser as the EdgeProfiler import, so both accept and reject the same lines.
  edgeprofiler::PowerLog log;
  try {
    log = edgeprofiler::parse_power_log(text);
  } catch (const edgeprofiler::ParseError& e) {
    // "power log line N: why" -> "name:N: why"
    std::string why = e.what();
    const std::string prefix = "power log line " + std::to_string(e.line()) + ": ";
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    throw SensorUnavailable(where(name, e.line()) + ": " + why);
  }
  if (log.backward_steps) throw SensorUnavailable(where(name, log.first_backward_line) + ": timestamps go backwards");
  constexpr int64_t kMaxSpanUs = std::numeric_limits<int64_t>::max() / 1000;
  for (std::size_t i = 0; i < log.t_us.size(); ++i) {
    const int64_t d_us = log.t_us[i] - log.t_us.front();  // both within years 1..9999: no overflow
    if (d_us > kMaxSpanUs) {
      throw SensorUnavailable(where(name, static_cast<std::size_t>(log.line[i])) +
                              ": the log spans more than 292 years from its first sample");
    }
    tr->t_ns.push_back(d_us * 1000);
    tr->power_w.push_back(log.voltage_mv[i] * log.current_ma[i] * 1e-6);
  }
}
}  // namespace

ReplayTrace parse_replay_trace(std::string_view text, const std::string& name) {
  ReplayTrace tr;
  tr.info.kind = "replay";
  const std::vector<std::string> lines = lines_of(text);
  if (!lines.empty() && lines.front() == kMagic) {
    parse_edgepower(lines, name, !text.empty() && text.back() != '\n', &tr);
  } else {
    std::size_t first = 0;
    while (first < lines.size() && trim(lines[first]).empty()) ++first;
    int64_t t_us;
    const std::string head = first < lines.size() ? trim(lines[first]) : std::string();
    if (first < lines.size() && edgeprofiler::parse_timestamp_us(trim(head.substr(0, head.find(','))), &t_us)) {
      parse_edgeprofiler(text, name, &tr);
    } else {
      throw SensorUnavailable(name + ": neither an edgepower trace (first line '" + kMagic +
                              "') nor an EdgeProfiler power log (lines 'YYYYmmdd-HH:MM:SS.ffffff,mV,mA'); line 1 is " +
                              shown(lines.empty() ? std::string() : lines.front()));
    }
  }
  if (tr.t_ns.empty()) throw SensorUnavailable(name + " holds no samples");
  return tr;
}

ReplaySensor::ReplaySensor(const ReplayOptions& options) : options_(options) { init(nullptr); }

ReplaySensor::ReplaySensor(std::string_view text, const ReplayOptions& options) : options_(options) { init(&text); }

void ReplaySensor::init(const std::string_view* text) {
  const ReplayOptions& options = options_;
  if (!(options.speed > 0) || !std::isfinite(options.speed)) {
    throw std::invalid_argument("replay speed must be a number > 0 (1 = real time), got " + std::to_string(options.speed));
  }
  info_.kind = "replay";
  info_.details["path"] = options.path;
  info_.details["speed"] = std::to_string(options.speed);
  info_.details["loop"] = options.loop ? "yes: starts over at the end" : "no: ends after the last sample";
  info_.description = "replay of " + options.path;
  try {
    std::string content;
    if (text == nullptr) {
      if (options.path.empty()) throw SensorUnavailable("replay needs a trace file: pass replay:path=<trace.csv or power_log.log>");
      std::ifstream in(options.path, std::ios::binary);
      if (!in) throw SensorUnavailable("cannot open trace " + options.path + " (" + std::string(std::strerror(errno)) + ")");
      std::ostringstream buf;
      buf << in.rdbuf();
      if (in.bad()) throw SensorUnavailable("cannot read trace " + options.path);
      content = buf.str();
    }
    ReplayTrace tr = parse_replay_trace(text ? *text : std::string_view(content), options.path);
    for (auto& kv : info_.details) tr.info.details[kv.first] = kv.second;
    tr.info.description = info_.description;
    info_ = std::move(tr.info);
    t_ns_ = std::move(tr.t_ns);
    power_w_ = std::move(tr.power_w);
    counter_j_ = std::move(tr.counter_j);
    std::vector<int64_t> gaps;
    for (std::size_t i = 1; i < t_ns_.size(); ++i) {
      if (t_ns_[i] > t_ns_[i - 1]) gaps.push_back(t_ns_[i] - t_ns_[i - 1]);
    }
    play_ns_ = t_ns_.back() - t_ns_.front();  // the parser checked that the span fits
    if (!gaps.empty()) {
      // The median interval (mean of the two middle ones for an even count).
      const std::size_t mid = gaps.size() / 2;
      std::nth_element(gaps.begin(), gaps.begin() + mid, gaps.end());
      double median_ns = static_cast<double>(gaps[mid]);
      if (gaps.size() % 2 == 0) median_ns = 0.5 * (median_ns + *std::max_element(gaps.begin(), gaps.begin() + mid));
      int64_t played, last;
      // The last sample lasts one typical interval too; the play must stay addressable in int64.
      if (__builtin_add_overflow(play_ns_, static_cast<int64_t>(median_ns), &played) ||
          __builtin_add_overflow(t_ns_.back(), static_cast<int64_t>(median_ns), &last)) {
        throw SensorUnavailable(options.path + ": the trace's timestamps leave no room for its last interval in int64 ns");
      }
      play_ns_ = played;
      info_.update_interval_s = median_ns * 1e-9 / options.speed;
      info_.details["update_interval"] = "median interval between recorded samples";
    }
    if (options.loop && play_ns_ <= 0) {
      throw SensorUnavailable(options.path + ": a single instant cannot loop (all samples share one timestamp)");
    }
    const std::size_t rails = info_.rails.size();
    if (info_.has_counter) {
      lap_j_.assign(rails, 0.0);
      for (std::size_t i = 1; i < t_ns_.size(); ++i) {
        for (std::size_t r = 0; r < rails; ++r) {
          const double a = counter_j_[(i - 1) * rails + r], b = counter_j_[i * rails + r];
          if (std::isfinite(a) && std::isfinite(b)) lap_j_[r] += counter_delta(a, b, info_.counter_range_j);
        }
      }
    }
    info_.details["samples"] = std::to_string(t_ns_.size());
    info_.details["span_s"] = std::to_string(span_s());
    info_.description = "replay of " + options.path + " (" + info_.details["format"] + ", " +
                        std::to_string(t_ns_.size()) + " samples over " + std::to_string(span_s()) + " s" +
                        (options.loop ? ", looped" : "") + ")";
  } catch (const SensorError& e) {
    info_.available = false;
    info_.reason = e.what();
    t_ns_.clear();
    if (info_.rails.empty()) info_.rails = {"total"};
  }
}

void ReplaySensor::read(double* power_w, double* counter_j) {
  if (!info_.available) require_available();
  const int64_t now = now_ns();
  if (start_ns_ < 0) start_ns_ = now;
  double elapsed_ns = static_cast<double>(now - start_ns_) * options_.speed;
  if (!std::isfinite(elapsed_ns)) elapsed_ns = std::numeric_limits<double>::max();  // speed near DBL_MAX
  const double play = static_cast<double>(play_ns_);
  if (elapsed_ns >= play) {
    if (!options_.loop) {
      throw SensorExhausted("replay of " + options_.path + " is over: the trace ends after " +
                            std::to_string(play_ns_ * 1e-9) + " s of trace time (" + std::to_string(t_ns_.size()) +
                            " samples); pass loop=1 to play it again and again");
    }
    // Laps as a double: a very fast play of a very short trace may count more than int64 holds.
    const double laps = std::floor(elapsed_ns / play);
    elapsed_ns -= laps * play;
    if (!(elapsed_ns >= 0 && elapsed_ns < play)) elapsed_ns = 0;  // rounding at a lap's edge
    if (laps != lap_) {
      lap_ = laps;
      cursor_ = 0;
    }
  }
  // elapsed < play_ns_, and front + play_ns_ fits in int64 (checked at parse time).
  const int64_t at = t_ns_.front() + std::min<int64_t>(static_cast<int64_t>(elapsed_ns), play_ns_ - 1);
  while (cursor_ + 1 < t_ns_.size() && t_ns_[cursor_ + 1] <= at) ++cursor_;
  const std::size_t rails = num_rails();
  std::copy(power_w_.begin() + cursor_ * rails, power_w_.begin() + (cursor_ + 1) * rails, power_w);
  if (info_.has_counter) {
    for (std::size_t r = 0; r < rails; ++r) {
      double c = counter_j_[cursor_ * rails + r];
      if (lap_ > 0) {
        c += lap_ * lap_j_[r];
        if (info_.counter_range_j > 0) c = std::fmod(c, info_.counter_range_j);
      }
      counter_j[r] = c;
    }
  }
}

}  // namespace edgepower
