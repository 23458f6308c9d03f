#pragma once
// The power figures of this machine's CPU that the CPU estimates (cpu-process, cpu-estimate) use:
// idle and maximum package power and how many logical CPUs they are for, taken from a small
// table of common CPUs (matched against <root>/proc/cpuinfo's "model name", or the device-tree
// model on Jetson boards), else the stated defaults; each figure overridable. The source of every
// figure is stated, because all of them are estimates, not measurements.
#include <limits>
#include <string>

namespace edgepower {

/// Defaults for an unknown CPU: typical of a desktop x86 CPU of the 65 W TDP class.
constexpr double kDefaultCpuIdleW = 10.0;
constexpr double kDefaultCpuMaxW = 65.0;
/// Package idle power is on no data sheet; for a known part it is taken as this share of its TDP
/// (the ratio of the defaults, 10 W of 65 W).
constexpr double kCpuIdleShareOfTdp = 10.0 / 65.0;

/// What the caller overrides; NaN / 0 = take it from the table or the defaults.
struct CpuPowerOverrides {
  double idle_w = std::numeric_limits<double>::quiet_NaN();  ///< W, package idle power
  double max_w = std::numeric_limits<double>::quiet_NaN();   ///< W, package power with every CPU busy
  int cpus = 0;                                              ///< logical CPUs idle_w/max_w are for
};

/// The figures and where they come from. Immutable value; thread-safe to share.
struct CpuPowerFigures {
  double idle_w = kDefaultCpuIdleW;  ///< W, package idle power
  double max_w = kDefaultCpuMaxW;    ///< W, package power with all `part_cpus` logical CPUs busy (~TDP)
  int part_cpus = 1;                 ///< logical CPUs (hardware threads) idle_w and max_w are for
  int online_cpus = 1;               ///< logical CPUs this system has (<root>/proc/cpuinfo, else sysconf)
  std::string model;                 ///< the model string read ("" when none was found)
  std::string matched;               ///< the table entry that matched ("" when none)
  std::string source;                ///< where idle_w, max_w and part_cpus come from, in words

  /// W that one busy logical CPU adds: (max_w - idle_w) / part_cpus.
  double per_cpu_w() const noexcept { return (max_w - idle_w) / part_cpus; }
  /// W of idle power this system stands for: idle_w x online_cpus / part_cpus (a VM with 2 of a
  /// 128-thread part's CPUs gets 2/128 of its idle power; two sockets of the part get twice it).
  double idle_share_w() const noexcept {
    return idle_w * static_cast<double>(online_cpus) / static_cast<double>(part_cpus);
  }
};

/// Reads <root>/proc/cpuinfo (model name, processor count) and, when no x86 model matched,
/// <root>/proc/device-tree/model (Jetson boards), then applies the overrides. Never throws for
/// missing or odd files (the defaults apply, and `source` says so); throws std::invalid_argument
/// when the overrides give 0 <= idle_w <= max_w false, non-finite watts or cpus < 0, with the fix.
CpuPowerFigures cpu_power_figures(const std::string& root = "/", const CpuPowerOverrides& overrides = {});

}  // namespace edgepower
