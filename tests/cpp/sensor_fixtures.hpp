#pragma once
// Helpers for the sensor tests: copies of the fixture trees in tests/data/sensors that a test
// may modify, and a real "permission denied" while running as root.
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "core/clock.hpp"

namespace edgepower::testing {

inline std::string fixture(const std::string& name) { return std::string(EDGEPOWER_TEST_DATA) + "/sensors/" + name; }

/// A private copy of a fixture tree (or an empty tree) under /tmp, removed at destruction.
class TempTree {
 public:
  explicit TempTree(const std::string& fixture_name = "") {
    char templ[] = "/tmp/edgepower-sensor-XXXXXX";
    if (mkdtemp(templ) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = templ;
    chmod(root_.c_str(), 0755);  // traversable by the unprivileged fsuid of DenyAccess
    if (!fixture_name.empty()) {
      std::filesystem::copy(fixture(fixture_name), root_, std::filesystem::copy_options::recursive);
    }
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::string& root() const { return root_; }
  std::string path(const std::string& rel) const { return root_ + "/" + rel; }
  /// Writes text in place (same inode: a sensor's open descriptor sees the new content).
  void write(const std::string& rel, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    std::ofstream f(path(rel), std::ios::trunc);
    f << text;
  }
  void remove(const std::string& rel) const { std::filesystem::remove(path(rel)); }

 private:
  std::string root_;
};

/// Makes open() of a file with mode 0400/0000 fail with EACCES for the current thread, even as
/// root: root bypasses file modes through CAP_DAC_OVERRIDE, which the kernel drops from the
/// effective set while the thread's filesystem uid is not 0 (setfsuid(2)). Restored on exit.
/// Not root: the file mode alone denies access and this does nothing.
class DenyAccess {
 public:
  DenyAccess() : active_(geteuid() == 0) {
    if (active_) syscall(SYS_setfsuid, 65534);
  }
  ~DenyAccess() {
    if (active_) syscall(SYS_setfsuid, 0);
  }

 private:
  bool active_;
};

template <typename Pred>
bool wait_until(Pred pred, double seconds) {
  const int64_t deadline = now_ns() + static_cast<int64_t>(seconds * 1e9);
  while (!pred()) {
    if (now_ns() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace edgepower::testing
