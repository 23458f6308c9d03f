#include "replay.hpp"

#include "edgeprofiler_log.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "../clock.hpp"

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

bool parse_double(const std::string& s, double* out) {
  const std::string t = trim(s);
  if (t.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return *end == '\0';
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

std::string where(const std::string& path, std::size_t lineno) { return path + ":" + std::to_string(lineno); }
}  // namespace

ReplaySensor::ReplaySensor(const ReplayOptions& options) : options_(options) {
  if (!(options.speed > 0) || !std::isfinite(options.speed)) {
    throw std::invalid_argument("replay speed must be a number > 0 (1 = real time), got " + std::to_string(options.speed));
  }
  info_.kind = "replay";
  info_.details["path"] = options.path;
  info_.details["speed"] = std::to_string(options.speed);
  info_.description = "replay of " + options.path;
  try {
    if (options.path.empty()) throw SensorUnavailable("replay needs a trace file: pass replay:path=<trace.csv or power_log.log>");
    std::ifstream in(options.path);
    if (!in) throw SensorUnavailable("cannot open trace " + options.path + " (" + std::string(std::strerror(errno)) + ")");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      lines.push_back(line);
    }
    if (!lines.empty() && lines.front() == kMagic) {
      parse_edgepower(lines);
    } else {
      std::size_t first = 0;
      while (first < lines.size() && trim(lines[first]).empty()) ++first;
      int64_t t_us;
      if (first < lines.size() && edgeprofiler::parse_timestamp_us(trim(split(lines[first], ',')[0]), &t_us)) {
        parse_edgeprofiler(lines);
      } else {
        throw SensorUnavailable(options.path + ": neither an edgepower trace (first line '" + kMagic +
                                "') nor an EdgeProfiler power log (lines 'YYYYmmdd-HH:MM:SS.ffffff,mV,mA'); line 1 is '" +
                                (lines.empty() ? std::string() : lines.front().substr(0, 60)) + "'");
      }
    }
    if (t_ns_.empty()) throw SensorUnavailable(options.path + " holds no samples");
    std::vector<int64_t> gaps;
    for (std::size_t i = 1; i < t_ns_.size(); ++i) {
      if (t_ns_[i] > t_ns_[i - 1]) gaps.push_back(t_ns_[i] - t_ns_[i - 1]);
    }
    play_ns_ = t_ns_.back() - t_ns_.front();
    if (!gaps.empty()) {
      // The median interval (mean of the two middle ones for an even count).
      const std::size_t mid = gaps.size() / 2;
      std::nth_element(gaps.begin(), gaps.begin() + mid, gaps.end());
      double median_ns = static_cast<double>(gaps[mid]);
      if (gaps.size() % 2 == 0) median_ns = 0.5 * (median_ns + *std::max_element(gaps.begin(), gaps.begin() + mid));
      play_ns_ += static_cast<int64_t>(median_ns);  // the last sample lasts one typical interval too
      info_.update_interval_s = median_ns * 1e-9 / options.speed;
      info_.details["update_interval"] = "median interval between recorded samples";
    }
    info_.details["samples"] = std::to_string(t_ns_.size());
    info_.details["span_s"] = std::to_string(span_s());
    info_.description = "replay of " + options.path + " (" + info_.details["format"] + ", " +
                        std::to_string(t_ns_.size()) + " samples over " + std::to_string(span_s()) + " s)";
  } catch (const SensorError& e) {
    info_.available = false;
    info_.reason = e.what();
    t_ns_.clear();
    if (info_.rails.empty()) info_.rails = {"total"};
  }
}

void ReplaySensor::parse_edgepower(std::vector<std::string>& lines) {
  const std::string& path = options_.path;
  info_.details["format"] = "edgepower trace v1";
  std::vector<std::string> header;
  std::string meta;
  std::size_t n_power = 0, n_counter = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string line = trim(lines[i]);
    if (line.empty()) continue;
    if (line.rfind("# meta:", 0) == 0) { meta = line.substr(7); continue; }
    if (line[0] == '#') continue;
    std::vector<std::string> cells = split(line, ',');
    if (header.empty()) {
      header = cells;
      if (header.size() < 3 || header[0] != "t_ns" || header[1] != "read_ns") {
        throw SensorUnavailable(where(path, i + 1) + ": header must be t_ns,read_ns,power_w:<rail>..., got '" + line.substr(0, 80) + "'");
      }
      for (std::size_t c = 2; c < header.size(); ++c) {
        if (header[c].rfind("power_w:", 0) == 0 && n_counter == 0) {
          info_.rails.push_back(header[c].substr(8));
          ++n_power;
        } else if (header[c].rfind("counter_j:", 0) == 0) {
          ++n_counter;
        } else {
          throw SensorUnavailable(where(path, i + 1) + ": unexpected column '" + header[c] + "' (expected power_w:<rail> then counter_j:<rail>)");
        }
      }
      if (n_counter != 0 && n_counter != n_power) {
        throw SensorUnavailable(where(path, i + 1) + ": " + std::to_string(n_counter) + " counter_j columns for " +
                                std::to_string(n_power) + " rails");
      }
      continue;
    }
    if (cells.size() != header.size()) {
      throw SensorUnavailable(where(path, i + 1) + ": " + std::to_string(cells.size()) + " fields, the header has " + std::to_string(header.size()));
    }
    int64_t t;
    if (!parse_i64(cells[0], &t)) throw SensorUnavailable(where(path, i + 1) + ": t_ns '" + cells[0] + "' is not an integer");
    if (!t_ns_.empty() && t < t_ns_.back()) throw SensorUnavailable(where(path, i + 1) + ": timestamps go backwards");
    t_ns_.push_back(t);
    for (std::size_t c = 2; c < cells.size(); ++c) {
      double v;
      if (!parse_double(cells[c], &v)) {
        throw SensorUnavailable(where(path, i + 1) + ": '" + cells[c] + "' in column " + header[c] + " is not a number");
      }
      (c < 2 + n_power ? power_w_ : counter_j_).push_back(v);
    }
  }
  if (header.empty()) throw SensorUnavailable(path + ": no header line (t_ns,read_ns,power_w:<rail>...)");
  info_.has_power = true;
  info_.has_counter = n_counter > 0;
  std::string v;
  if (json_scalar(meta, "counter_range_j", &v)) info_.counter_range_j = std::strtod(v.c_str(), nullptr);
  if (json_scalar(meta, "estimated", &v)) info_.estimated = v == "true";
  if (json_scalar(meta, "total_rail", &v)) {
    const long tr = std::strtol(v.c_str(), nullptr, 10);
    info_.total_rail = tr >= 0 && static_cast<std::size_t>(tr) < info_.rails.size() ? static_cast<int>(tr) : -1;
  }
  if (json_scalar(meta, "kind", &v)) info_.details["recorded_sensor"] = v;
}

void ReplaySensor::parse_edgeprofiler(std::vector<std::string>& lines) {
  const std::string& path = options_.path;
  info_.details["format"] = "EdgeProfiler power log (mV, mA)";
  info_.rails = {"total"};
  info_.total_rail = 0;
  info_.has_power = true;
  info_.has_counter = false;
  std::string text;
  for (const auto& line : lines) text.append(line).push_back('\n');
  // The same parser as the EdgeProfiler import, so both accept and reject the same lines.
  edgeprofiler::PowerLog log;
  try {
    log = edgeprofiler::parse_power_log(text);
  } catch (const edgeprofiler::ParseError& e) {
    // "power log line N: why" -> "path:N: why"
    std::string why = e.what();
    const std::string prefix = "power log line " + std::to_string(e.line()) + ": ";
    if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
    throw SensorUnavailable(where(path, e.line()) + ": " + why);
  }
  if (log.backward_steps) throw SensorUnavailable(where(path, log.first_backward_line) + ": timestamps go backwards");
  for (std::size_t i = 0; i < log.t_us.size(); ++i) {
    t_ns_.push_back((log.t_us[i] - log.t_us.front()) * 1000);
    power_w_.push_back(log.voltage_mv[i] * log.current_ma[i] * 1e-6);
  }
}

void ReplaySensor::read(double* power_w, double* counter_j) {
  if (!info_.available) require_available();
  const int64_t now = now_ns();
  if (start_ns_ < 0) start_ns_ = now;
  const double elapsed_ns = static_cast<double>(now - start_ns_) * options_.speed;
  if (elapsed_ns >= static_cast<double>(play_ns_)) {
    throw SensorError("replay of " + options_.path + " is over: the trace ends after " + std::to_string(play_ns_ * 1e-9) +
                      " s of trace time (" + std::to_string(t_ns_.size()) + " samples)");
  }
  const int64_t at = t_ns_.front() + static_cast<int64_t>(elapsed_ns);
  while (cursor_ + 1 < t_ns_.size() && t_ns_[cursor_ + 1] <= at) ++cursor_;
  const std::size_t rails = num_rails();
  std::copy(power_w_.begin() + cursor_ * rails, power_w_.begin() + (cursor_ + 1) * rails, power_w);
  if (info_.has_counter) std::copy(counter_j_.begin() + cursor_ * rails, counter_j_.begin() + (cursor_ + 1) * rails, counter_j);
}

}  // namespace edgepower
