#include "cpu_power.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sysfs.hpp"

namespace edgepower {

namespace {

struct Part {
  const char* match;  // substring of the model name, matched at word boundaries
  double tdp_w;       // W: the vendor's TDP / base power (sustained power with every core busy)
  int threads;        // logical CPUs of the part
  const char* source;
};

// Figures from the vendors' product pages (Intel ARK: "Processor Base Power" or "TDP"; AMD
// product pages: "Default TDP"; NVIDIA Jetson module data sheets: the highest nvpmodel power
// budget of the module). TDP is a sustained thermal design figure, not a measured power; Jetson
// budgets cover the whole module (GPU and memory included), so they bound the CPU cluster from above.
constexpr const char* kIntel = "Intel ARK, Processor Base Power (TDP)";
constexpr const char* kAmd = "AMD product page, Default TDP";
constexpr const char* kJetson = "NVIDIA Jetson module data sheet, highest nvpmodel power budget of the whole module "
                                "(GPU and memory included: an upper bound for the CPU cluster)";
constexpr Part kParts[] = {
    // Intel Core, desktop
    {"i9-14900K", 125, 32, kIntel}, {"i7-14700K", 125, 28, kIntel}, {"i5-14600K", 125, 20, kIntel},
    {"i9-13900K", 125, 32, kIntel}, {"i7-13700K", 125, 24, kIntel}, {"i5-13600K", 125, 20, kIntel},
    {"i5-13400", 65, 16, kIntel},   {"i9-12900K", 125, 24, kIntel}, {"i7-12700K", 125, 20, kIntel},
    {"i5-12600K", 125, 16, kIntel}, {"i5-12400", 65, 12, kIntel},   {"i9-11900K", 125, 16, kIntel},
    {"i7-11700K", 125, 16, kIntel}, {"i9-10900K", 125, 20, kIntel}, {"i7-10700K", 125, 16, kIntel},
    {"i9-9900K", 95, 16, kIntel},   {"i7-9700K", 95, 8, kIntel},    {"i7-8700K", 95, 12, kIntel},
    {"i7-8700", 65, 12, kIntel},    {"i7-7700K", 91, 8, kIntel},    {"i7-6700K", 91, 8, kIntel},
    // Intel Core, mobile
    {"i7-1165G7", 28, 8, kIntel},   {"i7-1185G7", 28, 8, kIntel},   {"i5-1135G7", 28, 8, kIntel},
    {"i7-1260P", 28, 16, kIntel},   {"i7-1360P", 28, 16, kIntel},   {"i7-12700H", 45, 20, kIntel},
    {"i7-10510U", 15, 8, kIntel},   {"i7-8550U", 15, 8, kIntel},
    // Intel Xeon
    {"Platinum 8480+", 350, 112, kIntel}, {"Platinum 8380", 270, 80, kIntel}, {"Platinum 8358", 250, 64, kIntel},
    {"Platinum 8280", 205, 56, kIntel},   {"Gold 6248R", 205, 48, kIntel},    {"Gold 6248", 150, 40, kIntel},
    {"Gold 6230", 125, 40, kIntel},       {"Gold 5218", 125, 32, kIntel},     {"Silver 4214", 85, 24, kIntel},
    {"E5-2690 v4", 135, 28, kIntel},      {"E5-2680 v4", 120, 28, kIntel},
    // AMD Ryzen, Threadripper, EPYC
    {"Ryzen 9 7950X", 170, 32, kAmd}, {"Ryzen 9 7900X", 170, 24, kAmd}, {"Ryzen 7 7700X", 105, 16, kAmd},
    {"Ryzen 5 7600X", 105, 12, kAmd}, {"Ryzen 9 5950X", 105, 32, kAmd}, {"Ryzen 9 5900X", 105, 24, kAmd},
    {"Ryzen 7 5800X", 105, 16, kAmd}, {"Ryzen 5 5600X", 65, 12, kAmd},  {"Ryzen 9 3950X", 105, 32, kAmd},
    {"Ryzen 9 3900X", 105, 24, kAmd}, {"Ryzen 7 3700X", 65, 16, kAmd},  {"Ryzen 5 3600", 65, 12, kAmd},
    {"Ryzen 7 5800H", 45, 16, kAmd},  {"Threadripper 3990X", 280, 128, kAmd},
    {"EPYC 9654", 360, 192, kAmd},    {"EPYC 9554", 360, 128, kAmd},    {"EPYC 7763", 280, 128, kAmd},
    {"EPYC 7713", 225, 128, kAmd},    {"EPYC 7742", 225, 128, kAmd},    {"EPYC 7702", 200, 128, kAmd},
    {"EPYC 7543", 225, 64, kAmd},     {"EPYC 7502", 180, 64, kAmd},     {"EPYC 7452", 155, 64, kAmd},
    // NVIDIA Jetson (device-tree model); the longer names first ("Orin Nano" before "Nano").
    {"Jetson AGX Orin", 60, 12, kJetson}, {"Jetson Orin NX", 25, 8, kJetson}, {"Jetson Orin Nano", 15, 6, kJetson},
    {"Jetson AGX Xavier", 30, 8, kJetson}, {"Jetson-AGX", 30, 8, kJetson},   {"Jetson Xavier NX", 20, 6, kJetson},
    {"Jetson TX2", 15, 6, kJetson},       {"Jetson Nano", 10, 4, kJetson},
};

bool word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// `key` occurs in `text` with no letter or digit right before or after it.
bool contains_word(const std::string& text, const std::string& key) {
  for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    const bool left = at == 0 || !word_char(text[at - 1]) || !word_char(key.front());
    const std::size_t end = at + key.size();
    const bool right = end == text.size() || !word_char(text[end]) || !word_char(key.back());
    if (left && right) return true;
  }
  return false;
}

std::string trim(std::string s) {
  while (!s.empty() && (std::isspace(static_cast<unsigned char>(s.back())) || s.back() == '\0')) s.pop_back();
  std::size_t b = 0;
  while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  return s.substr(b);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

}  // namespace

CpuPowerFigures cpu_power_figures(const std::string& root, const CpuPowerOverrides& o) {
  const bool idle_given = !std::isnan(o.idle_w), max_given = !std::isnan(o.max_w);
  if ((idle_given && !(std::isfinite(o.idle_w) && o.idle_w >= 0)) || (max_given && !(std::isfinite(o.max_w) && o.max_w >= 0))) {
    throw std::invalid_argument("CPU power figures must be finite watts >= 0, got idle " + fmt(o.idle_w) + " W, max " +
                                fmt(o.max_w) + " W (set e.g. idle=10,max=65 from your CPU's data sheet: max = TDP)");
  }
  if (o.cpus < 0) throw std::invalid_argument("cpus must be the number of logical CPUs the figures are for (>= 1), or 0 for automatic; got " + std::to_string(o.cpus));
  CpuPowerFigures f;
  // cpuinfo: the first "model name" and the count of "processor" lines (not namespaced: the
  // machine's logical CPUs, whatever a container's cpuset allows).
  int processors = 0;
  std::ifstream in(sysfs::join(root, "proc/cpuinfo"));
  for (std::string line; std::getline(in, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = trim(line.substr(0, colon));
    if (key == "processor") ++processors;
    if (key == "model name" && f.model.empty()) f.model = trim(line.substr(colon + 1));
  }
  const long onln = sysconf(_SC_NPROCESSORS_ONLN);
  f.online_cpus = processors > 0 ? processors : static_cast<int>(std::max(1L, onln));
  const Part* part = nullptr;
  for (const Part& p : kParts) {
    if (!f.model.empty() && contains_word(f.model, p.match)) {
      part = &p;
      break;
    }
  }
  if (part == nullptr) {
    for (const char* rel : {"proc/device-tree/model", "sys/firmware/devicetree/base/model"}) {
      std::string dt;
      if (!sysfs::read_text(sysfs::join(root, rel), &dt)) continue;
      dt = trim(dt);
      for (const Part& p : kParts) {
        if (contains_word(dt, p.match)) {
          part = &p;
          f.model = dt;
          break;
        }
      }
      if (part != nullptr) break;
      if (f.model.empty()) f.model = dt;
    }
  }
  std::string source;
  if (part != nullptr) {
    f.matched = part->match;
    f.max_w = part->tdp_w;
    f.idle_w = kCpuIdleShareOfTdp * part->tdp_w;
    f.part_cpus = part->threads;
    source = std::string(part->match) + ": max " + fmt(part->tdp_w) + " W (" + part->source + "), " +
             std::to_string(part->threads) + " logical CPUs; idle " + fmt(f.idle_w) + " W = " +
             fmt(std::round(kCpuIdleShareOfTdp * 1000) / 10) + " % of it (assumed: idle power is on no data sheet)";
  } else {
    f.part_cpus = f.online_cpus;
    source = (f.model.empty() ? std::string("no CPU model found") : "CPU model '" + f.model + "' is not in the table") +
             ": the stated defaults, idle " + fmt(kDefaultCpuIdleW) + " W and max " + fmt(kDefaultCpuMaxW) +
             " W (a desktop CPU of the 65 W TDP class) for this system's " + std::to_string(f.online_cpus) +
             " logical CPUs";
  }
  if (idle_given) f.idle_w = o.idle_w;
  if (max_given) f.max_w = o.max_w;
  if (o.cpus > 0) f.part_cpus = o.cpus;
  if (idle_given || max_given || o.cpus > 0) {
    source = std::string("given: ") + (idle_given ? "idle " + fmt(o.idle_w) + " W " : "") +
             (max_given ? "max " + fmt(o.max_w) + " W " : "") + (o.cpus > 0 ? "cpus " + std::to_string(o.cpus) + " " : "") +
             "(the rest from: " + source + ")";
  }
  if (!(f.idle_w <= f.max_w)) {
    throw std::invalid_argument("CPU power figures need idle_w <= max_w, got idle " + fmt(f.idle_w) + " W and max " + fmt(f.max_w) +
                                " W (" + source + "); set both, e.g. idle=10,max=65 (max = your CPU's TDP)");
  }
  f.source = source;
  return f;
}

}  // namespace edgepower
