#include "cpu_process.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>

#include "../clock.hpp"

namespace edgepower {

namespace {

// Ids that are never reused within the process (pthread_t and kernel tids can be: a sampler
// restarted after stop() often gets the old thread's pthread_t).
std::atomic<uint64_t> g_next_thread_id{1};
uint64_t this_thread_id() noexcept {
  thread_local const uint64_t id = g_next_thread_id.fetch_add(1, std::memory_order_relaxed);
  return id;
}

bool cpu_clock_ns(clockid_t clock, int64_t* ns, int* err) noexcept {
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) {
    *err = errno;
    return false;
  }
  *ns = static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
  return true;
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", v);
  return buf;
}

}  // namespace

CpuProcessSensor::CpuProcessSensor(const std::string& root, const CpuProcessOptions& options)
    : figures_(cpu_power_figures(root, options.figures)), power_window_s_(options.power_window_s) {
  if (!(std::isfinite(power_window_s_) && power_window_s_ > 0)) {
    throw std::invalid_argument("cpu-process: power_window_s must be a positive number of seconds (at least one "
                                "scheduler tick, e.g. 0.01), got " + fmt(power_window_s_));
  }
  info_.kind = "cpu-process";
  info_.rails = {"cpu"};
  info_.total_rail = 0;
  info_.has_power = true;
  info_.has_counter = true;
  info_.power_derived = true;
  info_.counter_range_j = 0.0;
  info_.estimated = true;
  info_.update_interval_s = power_window_s_;
  const double per_cpu = figures_.per_cpu_w(), idle = figures_.idle_share_w();
  info_.details["model"] = "counter_j = idle_share_w x elapsed_s + per_cpu_w x (process CPU s - sampler thread CPU s)";
  info_.details["per_cpu_w"] = fmt(per_cpu) + " W per busy logical CPU = (max " + fmt(figures_.max_w) + " W - idle " +
                               fmt(figures_.idle_w) + " W) / " + std::to_string(figures_.part_cpus) + " CPUs";
  info_.details["idle_share_w"] = fmt(idle) + " W = idle " + fmt(figures_.idle_w) + " W x " +
                                  std::to_string(figures_.online_cpus) + "/" +
                                  std::to_string(figures_.part_cpus) + " CPUs";
  info_.details["figures"] = figures_.source;
  info_.details["cpu_model"] = figures_.model.empty() ? "unknown" : figures_.model;
  info_.details["online_cpus"] = std::to_string(figures_.online_cpus);
  info_.details["cpu_time"] = "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) minus the reading thread's "
                              "CLOCK_THREAD_CPUTIME_ID (ns; other running threads counted up to their last scheduler tick)";
  info_.details["power"] = "derived: counter slope over the trailing " + fmt(power_window_s_ * 1e3) + " ms";
  info_.details["limits"] = "CPU of this process only: GPU/accelerator energy and child processes are not estimated";
  info_.description = "ESTIMATE, not a measurement: energy of this process's CPU time, " + fmt(per_cpu) +
                      " W per busy CPU + " + fmt(idle) + " W idle (" + figures_.source +
                      "; set cpu-process:idle=<W>,max=<W>,cpus=<n> from your CPU, max = TDP)";
  int err = 0;
  int64_t proc = 0, mine = 0;
  if (!cpu_clock_ns(CLOCK_PROCESS_CPUTIME_ID, &proc, &err) || !cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID, &mine, &err)) {
    info_.available = false;
    info_.reason = std::string("the kernel refuses the process/thread CPU-time clocks (") + std::strerror(err) +
                   "); cpu-process needs Linux clock_gettime(CLOCK_PROCESS_CPUTIME_ID); use cpu-estimate instead";
    return;
  }
  base_proc_ns_ = proc;
  t_start_ns_ = now_ns();
}

void CpuProcessSensor::read(double* power_w, double* counter_j) {
  if (!info_.available) require_available();
  int err = 0;
  int64_t proc = 0, mine = 0;
  // Either order telescopes: the reader's time between the two calls shifts single readings by
  // about a microsecond of CPU but never accumulates.
  if (!cpu_clock_ns(CLOCK_PROCESS_CPUTIME_ID, &proc, &err) || !cpu_clock_ns(CLOCK_THREAD_CPUTIME_ID, &mine, &err)) {
    throw SensorError(std::string("cpu-process: clock_gettime of a CPU-time clock failed: ") + std::strerror(err));
  }
  const int64_t t = now_ns();
  const uint64_t id = this_thread_id();
  if (id != reader_id_) {
    if (reader_id_ != 0) excluded_done_ns_ += reader_ns_ - reader_first_ns_;
    reader_id_ = id;
    reader_first_ns_ = mine;
  }
  reader_ns_ = mine;
  const int64_t counted = proc - base_proc_ns_ - (excluded_done_ns_ + reader_ns_ - reader_first_ns_);
  if (counted > counted_ns_) counted_ns_ = counted;
  const double energy_j = figures_.idle_share_w() * static_cast<double>(t - t_start_ns_) * 1e-9 +
                          figures_.per_cpu_w() * static_cast<double>(counted_ns_) * 1e-9;
  counter_j[0] = energy_j;
  // Keep the newest reading at least power_window_s old as the reference, and everything after it.
  const int64_t window_ns = static_cast<int64_t>(std::llround(power_window_s_ * 1e9));
  recent_.emplace_back(t, energy_j);
  while (recent_.size() > 2 && t - recent_[1].first >= window_ns) recent_.pop_front();
  const auto& ref = recent_.front();
  power_w[0] = recent_.size() < 2 || t <= ref.first
                   ? std::numeric_limits<double>::quiet_NaN()
                   : (energy_j - ref.second) / (static_cast<double>(t - ref.first) * 1e-9);
}

}  // namespace edgepower
