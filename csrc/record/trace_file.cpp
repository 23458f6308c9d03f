#include "trace_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace edgepower::record {

namespace {
constexpr const char* kMagic = "# edgepower trace v1";

std::string utc_now_iso() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);  // Python's isoformat(timespec="seconds")
  return buf;
}

std::string json_bool(bool b) { return b ? "true" : "false"; }
}  // namespace

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);  // UTF-8 passes through (json.loads accepts it)
        }
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  // Python's repr(): the fewest significant digits that read back to the same double, in
  // positional notation for decimal exponents -4 to 15, else scientific (std::to_chars would
  // give the digits, but needs GCC 11; boards build with older compilers).
  char sci[40];
  int digits = 1;
  for (; digits < 17; ++digits) {
    std::snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
    if (std::strtod(sci, nullptr) == v) break;
  }
  std::snprintf(sci, sizeof sci, "%.*e", digits - 1, v);
  const int exp10 = std::atoi(std::strchr(sci, 'e') + 1);
  if (exp10 < -4 || exp10 >= 16) return sci;
  char fixed[48];
  std::snprintf(fixed, sizeof fixed, "%.*f", std::max(digits - 1 - exp10, 0), v);
  std::string s(fixed);
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

std::string sensor_info_json(const SensorInfo& i) {
  std::string rails = "[";
  for (std::size_t k = 0; k < i.rails.size(); ++k) rails += (k ? ", " : "") + json_string(i.rails[k]);
  rails += "]";
  std::string details = "{";
  bool first = true;
  for (const auto& kv : i.details) {
    details += (first ? "" : ", ") + json_string(kv.first) + ": " + json_string(kv.second);
    first = false;
  }
  details += "}";
  return "{\"kind\": " + json_string(i.kind) + ", \"description\": " + json_string(i.description) +
         ", \"rails\": " + rails + ", \"total_rail\": " + std::to_string(i.total_rail) +
         ", \"has_power\": " + json_bool(i.has_power) + ", \"has_counter\": " + json_bool(i.has_counter) +
         ", \"power_derived\": " + json_bool(i.power_derived) +
         ", \"counter_range_j\": " + json_number(i.counter_range_j) +
         ", \"max_power_w\": " + json_number(i.max_power_w) +
         ", \"update_interval_s\": " + json_number(i.update_interval_s) +
         ", \"estimated\": " + json_bool(i.estimated) + ", \"available\": " + json_bool(i.available) +
         ", \"reason\": " + json_string(i.reason) + ", \"details\": " + details + "}";
}

TraceFile::TraceFile(const std::string& path, const SensorInfo& info, double rate_hz,
                     const std::string& recorder_json)
    : path_(path), rails_(info.rails.size()), has_counter_(info.has_counter) {
  // The header goes into a side file which is then renamed onto the path, so that a reader
  // watching the path while recording never sees it empty or with half a header (a reader
  // polled the path between fopen and the header's flush; CI, stop 19).
  const std::string partial = path + ".partial";
  f_ = std::fopen(partial.c_str(), "w");
  if (f_ == nullptr) {
    throw std::runtime_error("cannot write the trace '" + path + "' (via '" + partial + "'): " +
                             std::strerror(errno) + " (check that its folder exists and is writable)");
  }
  std::setvbuf(f_, nullptr, _IOFBF, 1 << 16);
  std::string meta = "{\"sensor\": " + sensor_info_json(info) + ", \"rate_hz\": " + json_number(rate_hz) +
                     ", \"created_utc\": " + json_string(utc_now_iso());
  if (!recorder_json.empty()) meta += ", \"recorder\": " + recorder_json;
  meta += "}";
  std::string cols = "t_ns,read_ns";
  for (const auto& r : info.rails) cols += ",power_w:" + r;
  if (has_counter_) {
    for (const auto& r : info.rails) cols += ",counter_j:" + r;
  }
  std::fprintf(f_, "%s\n# meta: %s\n%s\n", kMagic, meta.c_str(), cols.c_str());
  try {
    flush();
  } catch (...) {
    std::fclose(f_);
    f_ = nullptr;
    std::remove(partial.c_str());
    throw;
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::fclose(f_);
    f_ = nullptr;
    std::remove(partial.c_str());
    throw std::runtime_error("cannot write the trace '" + path + "': renaming '" + partial + "' onto it failed: " +
                             why + " (is the path a folder, or on a file system that refuses renames?)");
  }
}

TraceFile::~TraceFile() {
  if (f_ != nullptr) std::fclose(f_);
}

std::size_t TraceFile::write_samples(const Sampler& sampler) {
  const SampleBlock b = sampler.copy_block(next_);
  const std::size_t n = b.size();
  // Under the rolling memory policy samples older than the sampler's window are gone: only if
  // the writer fell a whole window behind (a stalled disk). Count them; the trace says so.
  if (n > 0 && b.begin > next_) lost_ += b.begin - next_;
  char buf[40];
  std::string line;
  for (std::size_t i = 0; i < n; ++i) {
    line = std::to_string(b.t_ns[i]) + "," + std::to_string(b.read_ns[i]);
    for (std::size_t r = 0; r < rails_; ++r) {
      std::snprintf(buf, sizeof buf, ",%.17g", b.power_w[i * rails_ + r]);  // repr precision, as the Python writer
      line += buf;
    }
    if (has_counter_) {
      for (std::size_t r = 0; r < rails_; ++r) {
        std::snprintf(buf, sizeof buf, ",%.17g", b.counter_j[i * rails_ + r]);
        line += buf;
      }
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), f_);
  }
  written_ += n;
  if (n > 0) next_ = b.begin + n;
  return n;
}

void TraceFile::write_mark(const Mark& mark) {
  std::fprintf(f_, "# mark: %s\n", format_mark(mark).c_str());
  ++marks_;
}

void TraceFile::write_comment(const std::string& key, const std::string& json) {
  std::fprintf(f_, "# %s: %s\n", key.c_str(), json.c_str());
}

void TraceFile::flush() {
  if (f_ != nullptr && (std::fflush(f_) != 0 || std::ferror(f_))) {
    throw std::runtime_error("writing the trace '" + path_ + "' failed: " + std::strerror(errno));
  }
}

void TraceFile::close() {
  if (f_ == nullptr) return;
  flush();
  const int rc = std::fclose(f_);
  f_ = nullptr;
  if (rc != 0) throw std::runtime_error("closing the trace '" + path_ + "' failed: " + std::strerror(errno));
}

}  // namespace edgepower::record
