#include "sensor_spec.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <stdexcept>

#include "core/sensors/cpu_estimate.hpp"
#include "core/sensors/hwmon.hpp"
#include "core/sensors/jetson_hwmon.hpp"
#include "core/sensors/jetson_iio.hpp"
#include "core/sensors/nvml.hpp"
#include "core/sensors/rapl.hpp"
#include "core/sensors/replay.hpp"
#include "core/sensors/synthetic.hpp"

namespace edgepower::record {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// A whole string as a finite-or-not double, like Python's float() (no trailing garbage).
bool to_double(const std::string& text, double* out) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return false;
  *out = v;
  return true;
}

// Options are consumed as they are read; what is left over is an error naming what is taken.
class Options {
 public:
  Options(std::string kind, std::map<std::string, std::string> options)
      : kind_(std::move(kind)), options_(std::move(options)) {}

  bool has(const std::string& key) const { return options_.count(key) != 0; }

  std::string take(const std::string& key, const std::string& fallback) {
    auto it = options_.find(key);
    if (it == options_.end()) return fallback;
    std::string v = it->second;
    options_.erase(it);
    return v;
  }

  double number(const std::string& key, double fallback) {
    if (!has(key)) return fallback;
    double v = 0;
    if (!to_double(take(key, ""), &v)) {
      throw std::invalid_argument("sensor '" + kind_ + "': " + key + " must be a number");
    }
    return v;
  }

  void no_leftovers(const std::vector<std::string>& allowed) const {
    if (options_.empty()) return;
    std::vector<std::string> keys;
    for (const auto& kv : options_) keys.push_back(kv.first);
    throw std::invalid_argument("sensor '" + kind_ + "' does not take " + join(keys) + "; it takes " +
                                join(allowed));
  }

 private:
  std::string kind_;
  std::map<std::string, std::string> options_;
};

void no_args(const SensorSpec& s, const std::vector<std::string>& allowed) {
  if (s.args.empty()) return;
  const std::string takes = allowed.empty() ? "it takes no options" : "it takes " + join(allowed);
  throw std::invalid_argument("sensor '" + s.kind + "' got unexpected argument(s) " + join(s.args) + "; " + takes);
}

const std::vector<std::string> kCommon = {"refresh", "noise", "seed", "counter", "range"};

std::vector<std::string> with_common(std::vector<std::string> v) {
  v.insert(v.end(), kCommon.begin(), kCommon.end());
  return v;
}

SyntheticOptions synthetic_options(Options& o) {
  SyntheticOptions so;
  so.refresh_s = o.number("refresh", 0.0);
  so.noise_w = o.number("noise", 0.0);
  so.seed = static_cast<uint64_t>(static_cast<int64_t>(o.number("seed", 1.0)));
  const std::string c = lower(o.take("counter", "0"));
  so.counter = c == "1" || c == "true" || c == "yes";
  so.counter_range_j = o.number("range", 0.0);
  return so;
}

SensorPtr constant(const SensorSpec& s) {
  Options o(s.kind, s.options);
  std::vector<std::string> args = s.args;
  if (o.has("watts")) args.push_back(o.take("watts", ""));
  std::vector<double> watts;
  for (const auto& a : args) {
    double v = 0;
    if (!to_double(a, &v)) {
      throw std::invalid_argument("constant sensor levels must be numbers (W), got [" + join(args) + "]");
    }
    watts.push_back(v);
  }
  if (watts.empty()) watts.push_back(5.0);
  const auto so = synthetic_options(o);
  o.no_leftovers(with_common({"<watts>[,<watts>...]"}));
  return std::make_shared<ConstantSensor>(watts, so);
}

SensorPtr square(const SensorSpec& s) {
  no_args(s, {"low", "high", "period", "duty"});
  Options o(s.kind, s.options);
  const double low = o.number("low", 2.0), high = o.number("high", 8.0);
  const double period = o.number("period", 0.1), duty = o.number("duty", 0.5);
  const auto so = synthetic_options(o);
  o.no_leftovers(with_common({"low", "high", "period", "duty"}));
  return std::make_shared<SquareSensor>(low, high, period, duty, so);
}

SensorPtr piecewise(const SensorSpec& s) {
  Options o(s.kind, s.options);
  std::vector<double> times, watts;
  for (const auto& a : s.args) {
    const auto slash = a.find('/');
    if (slash == std::string::npos) {
      throw std::invalid_argument("sensor 'piecewise' takes pairs like 0/1.5 (time_s/watts), got '" + a + "'");
    }
    double t = 0, w = 0;
    if (!to_double(a.substr(0, slash), &t) || !to_double(a.substr(slash + 1), &w)) {
      throw std::invalid_argument("piecewise points must be numbers: time_s/watts");
    }
    times.push_back(t);
    watts.push_back(w);
  }
  if (times.empty()) {
    times = {0, 1, 2};
    watts = {2, 8, 2};
  }
  const std::string st = lower(o.take("step", "0"));
  const bool step = st == "1" || st == "true" || st == "yes";
  const auto so = synthetic_options(o);
  o.no_leftovers(with_common({"<t_s>/<watts>...", "step"}));
  return std::make_shared<PiecewiseSensor>(times, watts, step, so);
}

SensorPtr jetson_hwmon(const SensorSpec& s, const std::string& root) {
  no_args(s, {});
  Options(s.kind, s.options).no_leftovers({"no options"});
  return std::make_shared<JetsonHwmonSensor>(root);
}

SensorPtr jetson_iio(const SensorSpec& s, const std::string& root) {
  no_args(s, {});
  Options(s.kind, s.options).no_leftovers({"no options"});
  return std::make_shared<JetsonIioSensor>(root);
}

SensorPtr hwmon(const SensorSpec& s, const std::string& root) {
  no_args(s, {"name=<hwmon name>", "mode=auto|energy|power"});
  Options o(s.kind, s.options);
  HwmonOptions ho;
  ho.name = o.take("name", "");
  ho.mode = lower(o.take("mode", "auto"));
  if (ho.mode != "auto" && ho.mode != "energy" && ho.mode != "power") {
    throw std::invalid_argument("sensor 'hwmon': mode must be auto, energy or power, got '" + ho.mode + "'");
  }
  o.no_leftovers({"name", "mode"});
  return std::make_shared<HwmonSensor>(root, ho);
}

SensorPtr rapl(const SensorSpec& s, const std::string& root) {
  no_args(s, {});
  Options(s.kind, s.options).no_leftovers({"no options"});
  return std::make_shared<RaplSensor>(root);
}

SensorPtr nvml(const SensorSpec& s) {
  if (s.args.size() > 1) throw std::invalid_argument("sensor 'nvml' takes one GPU index, got " + join(s.args));
  Options o(s.kind, s.options);
  const std::string raw = o.take("index", s.args.empty() ? "0" : s.args[0]);
  NvmlOptions no;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(raw.c_str(), &end, 10);
  if (raw.empty() || end != raw.c_str() + raw.size() || errno != 0 || v < 0) {
    throw std::invalid_argument("sensor 'nvml': index must be a GPU index >= 0 (see nvidia-smi -L), got '" + raw + "'");
  }
  no.index = static_cast<unsigned>(v);
  no.library = o.take("library", "");
  o.no_leftovers({"index", "library"});
  return std::make_shared<NvmlSensor>(no);
}

SensorPtr replay(const SensorSpec& s) {
  if (s.args.size() > 1) throw std::invalid_argument("sensor 'replay' takes one file, got " + join(s.args));
  Options o(s.kind, s.options);
  ReplayOptions ro;
  ro.path = o.take("path", s.args.empty() ? "" : s.args[0]);
  ro.speed = o.number("speed", 1.0);
  if (!(ro.speed > 0)) {
    throw std::invalid_argument("sensor 'replay': speed must be > 0 (1 = real time), got " + std::to_string(ro.speed));
  }
  const std::string loop = lower(o.take("loop", "0"));
  if (loop != "0" && loop != "1" && loop != "true" && loop != "false" && loop != "yes" && loop != "no") {
    throw std::invalid_argument("sensor 'replay': loop must be 1 (play again at the end) or 0, got '" + loop + "'");
  }
  ro.loop = loop == "1" || loop == "true" || loop == "yes";
  o.no_leftovers({"path", "speed", "loop"});
  return std::make_shared<ReplaySensor>(ro);
}

SensorPtr cpu_estimate(const SensorSpec& s, const std::string& root) {
  no_args(s, {"idle=<W>", "max=<W>", "cpus=<n>"});
  Options o(s.kind, s.options);
  CpuEstimateOptions co;  // NaN / 0: the CPU table's figures, as in Python
  co.idle_w = o.number("idle", co.idle_w);
  co.max_w = o.number("max", co.max_w);
  if (o.has("cpus")) {
    const std::string raw = o.take("cpus", "");
    char* end = nullptr;
    const long v = std::strtol(raw.c_str(), &end, 10);
    if (raw.empty() || end != raw.c_str() + raw.size() || v < 1 || v > 1 << 20) {
      throw std::invalid_argument("sensor 'cpu-estimate': cpus must be the number of logical CPUs the idle/max "
                                  "figures are for (an integer >= 1), got '" + raw + "'");
    }
    co.cpus = static_cast<int>(v);
  }
  o.no_leftovers({"idle", "max", "cpus"});
  return std::make_shared<CpuEstimateSensor>(root, co);
}

using Factory = std::function<SensorPtr(const SensorSpec&, const std::string&)>;

const std::map<std::string, Factory>& factories() {
  static const std::map<std::string, Factory> f = {
      {"constant", [](const SensorSpec& s, const std::string&) { return constant(s); }},
      {"square", [](const SensorSpec& s, const std::string&) { return square(s); }},
      {"piecewise", [](const SensorSpec& s, const std::string&) { return piecewise(s); }},
      {"jetson-hwmon", jetson_hwmon},
      {"jetson-iio", jetson_iio},
      {"hwmon", hwmon},
      {"rapl", rapl},
      {"nvml", [](const SensorSpec& s, const std::string&) { return nvml(s); }},
      {"replay", [](const SensorSpec& s, const std::string&) { return replay(s); }},
      {"cpu-estimate", cpu_estimate},
  };
  return f;
}

// sensor="auto": energy counters first, then hardware power sensors, then the estimate, as in
// python/edgepower/sensors/builtin.py, except that the estimate is the system-wide
// cpu-estimate: Python's cpu-process would estimate the recorder's own CPU time here.
const std::vector<std::string> kAutoOrder = {"nvml", "rapl", "hwmon", "jetson-hwmon", "jetson-iio", "cpu-estimate"};

SensorPtr automatic(const std::string& root) {
  std::vector<std::string> reasons;
  for (const auto& kind : kAutoOrder) {
    try {
      SensorPtr s = factories().at(kind)(SensorSpec{kind, {}, {}}, root);
      if (s->info().available) return s;
      reasons.push_back(kind + ": " + s->info().reason);
    } catch (const std::exception& e) {
      reasons.push_back(kind + ": " + e.what());
    }
  }
  throw SensorUnavailable("sensor 'auto' found no usable sensor here. " + join(reasons, " | ") +
                          " | For a synthetic source, pass e.g. --sensor constant:5.");
}

}  // namespace

SensorSpec parse_sensor_spec(const std::string& spec) {
  const std::string t = trim(spec);
  if (t.empty()) throw std::invalid_argument("a sensor spec must be a non-empty string like 'constant:5'");
  SensorSpec out;
  const auto colon = t.find(':');
  out.kind = lower(trim(t.substr(0, colon)));
  if (colon == std::string::npos) return out;
  const std::string rest = t.substr(colon + 1);
  std::size_t start = 0;
  while (start <= rest.size()) {
    auto comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    const std::string part = trim(rest.substr(start, comma - start));
    start = comma + 1;
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string::npos) {
      out.args.push_back(part);
    } else {
      out.options[trim(part.substr(0, eq))] = trim(part.substr(eq + 1));
    }
  }
  return out;
}

std::vector<std::string> native_kinds() {
  std::vector<std::string> kinds;
  for (const auto& kv : factories()) kinds.push_back(kv.first);
  return kinds;
}

SensorPtr create_sensor(const std::string& spec, const std::string& root) {
  const SensorSpec s = parse_sensor_spec(spec);
  if (s.kind == "auto") {
    if (!s.args.empty() || !s.options.empty()) {
      throw std::invalid_argument("'auto' takes no options; name a sensor kind to pass options");
    }
    return automatic(root);
  }
  const auto it = factories().find(s.kind);
  if (it == factories().end()) {
    std::string hint;
    if (s.kind == "regions") hint = " The 'regions' kind follows a Python timeline: use it from the Python package.";
    if (s.kind == "cpu-process") {
      hint = " 'cpu-process' estimates the CPU energy of the process that reads it, here the recorder itself: "
             "for the measured program use 'cpu-estimate' (system-wide).";
    }
    throw std::invalid_argument("unknown sensor kind '" + s.kind + "'." + hint + " Known kinds here: " +
                                join(native_kinds()) + ", auto.");
  }
  SensorPtr sensor = it->second(s, root);
  sensor->require_available();
  return sensor;
}

}  // namespace edgepower::record
