#include "recorder.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>

#include "core/clock.hpp"
#include "core/sampler.hpp"
#include "sensor_spec.hpp"
#include "trace_file.hpp"

#ifndef EDGEPOWER_VERSION
#define EDGEPOWER_VERSION "dev"
#endif

namespace edgepower::record {

namespace {

constexpr double kMemorySeconds = 60.0;  // samples kept in memory besides the file

volatile sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) { g_signal = sig; }

// Installs the handlers (no SA_RESTART: poll() returns EINTR) and restores the old ones.
class SignalGuard {
 public:
  SignalGuard() {
    g_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalGuard() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// Blocks SIGINT/SIGTERM in this thread while alive: threads started meanwhile (the sampler)
// inherit the mask, so the signals always reach the main thread and interrupt its poll().
class BlockSignals {
 public:
  BlockSignals() {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGINT);
    sigaddset(&s, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &s, &old_);
  }
  ~BlockSignals() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

std::string host_json() {
  utsname u{};
  if (uname(&u) != 0) return "{}";
  return "{\"sysname\": " + json_string(u.sysname) + ", \"nodename\": " + json_string(u.nodename) +
         ", \"release\": " + json_string(u.release) + ", \"machine\": " + json_string(u.machine) + "}";
}

std::string recorder_json(const RecordOptions& o) {
  return "{\"program\": \"edgepower-record\", \"version\": " + json_string(recorder_version()) +
         ", \"sensor_spec\": " + json_string(o.sensor) + ", \"root\": " + json_string(o.root) +
         ", \"marks_pipe\": " + (o.marks.empty() ? std::string("null") : json_string(o.marks)) +
         ", \"marks_format\": \"# mark: t_ns,event,name,calls,type,clock\"" +
         ", \"realtime_requested\": " + (o.realtime ? "true" : "false") +
         ", \"duration_s\": " + json_number(o.duration_s) + ", \"host\": " + host_json() + "}";
}

std::string stats_json(const SamplerStats& st) {
  return "{\"requested_rate_hz\": " + json_number(st.requested_rate_hz) +
         ", \"samples\": " + std::to_string(st.samples) + ", \"duration_s\": " + json_number(st.duration_s) +
         ", \"achieved_rate_hz\": " + json_number(st.achieved_rate_hz) +
         ", \"missed_deadlines\": " + std::to_string(st.missed_deadlines) +
         ", \"read_errors\": " + std::to_string(st.read_errors) +
         ", \"lateness_p50_us\": " + json_number(st.lateness_p50_us) +
         ", \"lateness_p99_us\": " + json_number(st.lateness_p99_us) +
         ", \"lateness_max_us\": " + json_number(st.lateness_max_us) +
         ", \"read_p50_us\": " + json_number(st.read_p50_us) + ", \"read_p99_us\": " + json_number(st.read_p99_us) +
         ", \"identical_share\": " + json_number(st.identical_share) +
         ", \"effective_update_interval_s\": " + json_number(st.effective_update_interval_s) +
         ", \"realtime\": " + (st.realtime ? "true" : "false") + ", \"failed\": " + (st.failed ? "true" : "false") +
         ", \"last_error\": " + json_string(st.last_error) + ", \"cpu_s\": " + json_number(st.cpu_s) + "}";
}

}  // namespace

std::string recorder_version() { return EDGEPOWER_VERSION; }

MarksPipe::MarksPipe(const std::string& path) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISFIFO(st.st_mode)) {
      throw std::runtime_error("--marks " + path + " exists and is not a named pipe; remove it or pick another path");
    }
  } else if (errno == ENOENT) {
    if (::mkfifo(path.c_str(), 0600) != 0) {
      throw std::runtime_error("cannot create the named pipe " + path + ": " + std::strerror(errno));
    }
    created_ = true;
  } else {
    throw std::runtime_error("cannot use --marks " + path + ": " + std::strerror(errno));
  }
  read_fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (read_fd_ >= 0) write_fd_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  if (read_fd_ < 0 || write_fd_ < 0) {
    const int e = errno;
    if (read_fd_ >= 0) ::close(read_fd_);
    if (created_) ::unlink(path.c_str());
    throw std::runtime_error("cannot open the named pipe " + path + ": " + std::strerror(e));
  }
}

MarksPipe::~MarksPipe() {
  if (write_fd_ >= 0) ::close(write_fd_);
  if (read_fd_ >= 0) ::close(read_fd_);
  if (created_) ::unlink(path_.c_str());
}

void MarksPipe::read_available(std::vector<std::string>* lines) {
  char buf[8192];
  while (true) {
    const ssize_t n = ::read(read_fd_, buf, sizeof buf);
    if (n > 0) {
      splitter_.feed(buf, static_cast<std::size_t>(n), lines);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return;  // EAGAIN: nothing more now (never 0: we hold a write end ourselves)
  }
}

int list_sensors(const std::string& root, std::ostream& out) {
  for (const auto& kind : native_kinds()) {
    try {
      SensorPtr s = create_sensor(kind, root);
      const SensorInfo& i = s->info();
      std::string rails;
      for (const auto& r : i.rails) rails += (rails.empty() ? "" : ", ") + r;
      out << kind << ": available (" << i.description << "); rails: " << rails
          << (i.estimated ? " [ESTIMATE]" : "") << "\n";
    } catch (const std::exception& e) {
      out << kind << ": not available: " << e.what() << "\n";
    }
  }
  return 0;
}

int run_recorder(const RecordOptions& o, std::ostream& err) {
  SensorPtr sensor;
  try {
    sensor = create_sensor(o.sensor, o.root);
  } catch (const std::exception& e) {
    err << "edgepower-record: error: " << e.what() << "\n";
    return 2;
  }
  const SensorInfo& info = sensor->info();
  SamplerOptions so;
  so.rate_hz = o.rate_hz;
  so.realtime_priority = o.realtime ? 1 : 0;
  // The file is the record: memory holds only the last minute (at least two storage chunks),
  // however long the recording runs; the file is written every --flush seconds (samples it has
  // not got yet stay past the minute, for at most a minute more: hold_from).
  so.memory_policy = MemoryPolicy::Rolling;
  so.max_samples = std::max<std::size_t>(static_cast<std::size_t>(o.rate_hz * kMemorySeconds),
                                         2 * so.chunk_samples);
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<TraceFile> trace;
  std::unique_ptr<MarksPipe> pipe;
  std::size_t hold = 0;
  SignalGuard signals;
  try {
    sampler = std::make_unique<Sampler>(sensor, so);
    trace = std::make_unique<TraceFile>(o.output, info, o.rate_hz, recorder_json(o));
    hold = sampler->add_hold(0);  // what the file has not got yet stays in memory past the minute (up to two)
    {
      BlockSignals block;  // the sampler thread inherits the blocked mask
      sampler->start();
    }
  } catch (const std::exception& e) {
    err << "edgepower-record: error: " << e.what() << "\n";
    return 2;
  }
  // A window begun once the pipe is open is covered: wait for the first sample first.
  const int64_t first_deadline = now_ns() + 1'000'000'000 + static_cast<int64_t>(2e9 / o.rate_hz);
  while (sampler->size() == 0 && !sampler->failed() && now_ns() < first_deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  try {
    if (!o.marks.empty()) pipe = std::make_unique<MarksPipe>(o.marks);
  } catch (const std::exception& e) {
    err << "edgepower-record: error: " << e.what() << "\n";
    try { sampler->stop(); } catch (...) {}
    trace->close();
    return 2;
  }
  if (!o.quiet) {
    err << "edgepower-record: sensor " << info.kind << " (" << info.description << "), " << info.rails.size()
        << " rail(s)" << (info.estimated ? " [ESTIMATE]" : "") << "; " << o.rate_hz << " Hz -> " << o.output;
    if (pipe) err << "; marks: " << pipe->path();
    err << "; ";
    if (o.duration_s > 0) {
      err << "for " << o.duration_s << " s";
    } else {
      err << "until Ctrl-C, SIGTERM or 'stop'";
    }
    err << std::endl;
  }

  const int64_t start_ns = now_ns();
  const int64_t end_ns = o.duration_s > 0 ? start_ns + static_cast<int64_t>(o.duration_s * 1e9) : INT64_MAX;
  const int64_t flush_ns = static_cast<int64_t>(o.flush_s * 1e9);
  int64_t next_flush = start_ns + flush_ns;
  std::string stopped_by;
  std::size_t bad_marks = 0;
  int64_t last_mark_ns = 0;
  std::vector<std::string> lines;
  int status = 0;

  auto take_marks = [&]() {
    if (!pipe) return;
    lines.clear();
    pipe->read_available(&lines);
    const int64_t arrival = now_ns();
    for (const auto& line : lines) {
      try {
        const MarkLine ml = parse_mark_line(line, arrival);
        if (ml.kind == LineKind::Mark) {
          trace->write_mark(ml.mark);
          last_mark_ns = std::max(last_mark_ns, ml.mark.t_ns);
        }
        if (ml.kind == LineKind::Stop && stopped_by.empty()) stopped_by = "a 'stop' line";
      } catch (const std::invalid_argument& e) {
        ++bad_marks;
        err << "edgepower-record: ignored: " << e.what() << "\n";
      }
    }
  };

  try {
    while (stopped_by.empty()) {
      const int64_t now = now_ns();
      if (g_signal != 0) {
        stopped_by = g_signal == SIGINT ? "SIGINT" : "SIGTERM";
        break;
      }
      if (now >= end_ns) {
        stopped_by = "the duration";
        break;
      }
      if (sampler->failed()) {
        stopped_by = "a sensor failure";
        break;
      }
      if (sampler->finished()) {
        stopped_by = "the end of the sensor's data";  // a replay reached the end of its trace
        break;
      }
      if (now >= next_flush) {
        trace->write_samples(*sampler);
        sampler->hold_from(hold, trace->next_sample());
        trace->flush();
        next_flush = now + flush_ns;
      }
      const int64_t wait_ns = std::max<int64_t>(0, std::min(next_flush, end_ns) - now);
      const int timeout_ms = static_cast<int>(std::min<int64_t>(wait_ns / 1'000'000 + 1, 1000));
      pollfd pfd{pipe ? pipe->fd() : -1, POLLIN, 0};
      const int rc = ::poll(pipe ? &pfd : nullptr, pipe ? 1 : 0, timeout_ms);
      if (rc > 0) take_marks();
    }
  } catch (const std::exception& e) {  // a write error (disk full): stop, keep what is written
    err << "edgepower-record: error: " << e.what() << "\n";
    stopped_by = "a write error";
    status = 1;
  }

  // Finish: marks still in the pipe, a sample after the last mark, the sampler, the last
  // samples, the trailer.
  std::string failure;
  try {
    take_marks();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  // A window that ends just before "stop" needs a sample after its end, or its energy is
  // undefined at the edge: wait for one (at most two periods and 0.1 s).
  const int64_t after_ns = std::max(now_ns(), last_mark_ns);
  const int64_t wait_until = now_ns() + 100'000'000 + static_cast<int64_t>(2e9 / o.rate_hz);
  while (sampler->running() && now_ns() < wait_until) {
    const std::size_t n = sampler->size();
    int64_t last = INT64_MIN;
    if (n > 0) sampler->copy(n - 1, n, &last, nullptr, nullptr, nullptr, nullptr);
    if (last >= after_ns) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  try {
    sampler->stop();
  } catch (const SensorError& e) {
    failure = e.what();
  }
  const SamplerStats st = sampler->stats();
  try {
    trace->write_samples(*sampler);
    trace->write_comment("end", "{\"samples\": " + std::to_string(trace->samples_written()) +
                                    ", \"samples_lost\": " + std::to_string(trace->samples_lost()) +
                                    ", \"marks\": " + std::to_string(trace->marks_written()) +
                                    ", \"bad_marks\": " + std::to_string(bad_marks) +
                                    ", \"stopped_by\": " + json_string(stopped_by) +
                                    ", \"error\": " + json_string(failure) + ", \"sampler\": " + stats_json(st) + "}");
    trace->close();
  } catch (const std::exception& e) {
    err << "edgepower-record: error: " << e.what() << "\n";
    return 1;
  }
  if (!o.quiet) {
    err << "edgepower-record: stopped by " << stopped_by << "; wrote " << trace->samples_written() << " samples ("
        << st.achieved_rate_hz << " Hz achieved, " << st.missed_deadlines << " missed deadlines, " << st.read_errors
        << " read errors) and " << trace->marks_written() << " marks to " << o.output << std::endl;
  }
  if (!failure.empty()) {
    err << "edgepower-record: error: the sensor failed: " << failure << "\n";
    return 1;
  }
  if (trace->samples_lost() > 0) {
    err << "edgepower-record: error: " << trace->samples_lost() << " samples were dropped before they could "
        << "be written (the file fell " << kMemorySeconds << " s behind: a slow or full disk?)\n";
    return 1;
  }
  return status;
}

}  // namespace edgepower::record
