#pragma once
// A labelled estimate of the energy THIS process's CPU time costs, which other processes on the
// machine cannot change (unlike a system-wide utilisation estimate, see cpu_estimate.hpp):
//
//   counter_j(t) = idle_share_w x (t - t_start) + per_cpu_w x counted_cpu_s(t)
//   counted_cpu_s = process CPU time (CLOCK_PROCESS_CPUTIME_ID, every thread, user + system)
//                   - the CPU time of the thread(s) that call read() while they are the reader
//
// The reader is the sampler's thread (the Sensor contract: one thread reads at a time), so the
// sampler's own cost is left out without the sampler having to say which thread it runs on:
// read() takes the calling thread's CLOCK_THREAD_CPUTIME_ID. When the reader changes (a new
// sampler run, a read from another thread), the old reader's CPU time up to its last read stays
// excluded and the new reader's is excluded from its first read on. per_cpu_w and idle_share_w
// come from cpu_power.hpp (a table of CPUs with cited TDPs, else defaults; overridable).
//
// Exactness: both clocks are the scheduler's sum_exec_runtime (ns). The calling thread's is exact
// to the call; other threads of the process that are running on another CPU at that moment are
// included only up to their last scheduler tick or context switch (kernel commit a1eb1411b4e4,
// 2016, skips their pending runtime for scalability), so the counter lags the truth by at most one
// tick (1/CONFIG_HZ: 1 to 10 ms) of each such thread, a zero-mean error on window differences.
// /proc/self/stat would be coarser (USER_HZ = 10 ms ticks) and cost a text parse per read.
// Cost: two clock_gettime system calls per read (about 1 to 6 us, more in a VM).
//
// Limits: CPU only (GPU or accelerator energy is not estimated), child processes are not
// counted, and the figures are estimates: info().estimated is true.
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "../sensor.hpp"
#include "cpu_power.hpp"

namespace edgepower {

struct CpuProcessOptions {
  CpuPowerOverrides figures;  ///< idle_w / max_w / cpus overrides (NaN / 0: table, else defaults)
  /// Power is derived from the counter over this trailing span (s): at least one scheduler tick,
  /// so that other threads' tick-wise accounting does not show as spikes.
  double power_window_s = 0.01;
};

class CpuProcessSensor : public Sensor {
 public:
  /// Reads the CPU's figures under root (cpu_power_figures). Never throws for missing files;
  /// throws std::invalid_argument for bad overrides or power_window_s <= 0.
  explicit CpuProcessSensor(const std::string& root = "/", const CpuProcessOptions& options = {});
  /// counter_j[0]: J (see the formula above), non-decreasing; power_w[0]: W, the counter's slope
  /// over the trailing power_window_s (NaN at the first read). Not thread-safe: one thread at a
  /// time (any thread; the reader's own CPU time is excluded). Throws SensorError when the kernel
  /// refuses a CPU clock.
  void read(double* power_w, double* counter_j) override;

  const CpuPowerFigures& figures() const noexcept { return figures_; }
  /// CPU seconds counted so far (process minus readers) at the last read; not thread-safe.
  double counted_cpu_s() const noexcept { return static_cast<double>(counted_ns_) * 1e-9; }
  /// CPU seconds excluded so far as the readers' own (at the last read); not thread-safe.
  double excluded_cpu_s() const noexcept { return static_cast<double>(excluded_done_ns_ + reader_ns_ - reader_first_ns_) * 1e-9; }

 private:
  CpuPowerFigures figures_;
  double power_window_s_;
  int64_t t_start_ns_ = 0;          // CLOCK_MONOTONIC ns at construction: the counter's origin
  int64_t base_proc_ns_ = 0;        // process CPU time at construction (the counter counts from it)
  uint64_t reader_id_ = 0;          // this process's id of the thread that read last (0: none yet)
  int64_t reader_first_ns_ = 0;     // its thread CPU time at its first read
  int64_t reader_ns_ = 0;           // its thread CPU time at its last read
  int64_t excluded_done_ns_ = 0;    // CPU time of earlier readers while they were the reader
  int64_t counted_ns_ = 0;          // non-decreasing
  std::deque<std::pair<int64_t, double>> recent_;  // (t_ns, counter_j) over the power window
};

}  // namespace edgepower
