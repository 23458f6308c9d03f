#pragma once
// Helpers shared by the file-based sensors (sysfs, procfs, fixture trees): open a file once,
// re-read it with pread, parse a number, and say which file and which value was wrong.
#include <cstdint>
#include <string>
#include <vector>

namespace edgepower::sysfs {

/// root + "/" + rel with exactly one slash between them ("/" + "sys/x" -> "/sys/x").
std::string join(const std::string& root, const std::string& rel);

/// Paths matching a glob(3) pattern, sorted; empty when nothing matches. Never throws.
std::vector<std::string> glob(const std::string& pattern);

/// True if path exists (any type). Never throws.
bool exists(const std::string& path);

/// Reads a whole small file once and strips trailing whitespace. Returns false (errno in *err)
/// when it cannot be opened or read. Never throws.
bool read_text(const std::string& path, std::string* out, int* err = nullptr);

/// "permission denied", "no such file" etc. for an errno value, lower case.
std::string errno_text(int err);

/// One file opened once (O_RDONLY) and re-read from offset 0 with pread on every read, as sysfs
/// attributes expect. Movable, not copyable. Not thread-safe: one reader at a time.
class File {
 public:
  File() = default;
  ~File();
  File(File&& other) noexcept;
  File& operator=(File&& other) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  /// Opens path; on failure returns false and sets *err to errno. Never throws.
  bool open(const std::string& path, int* err);
  bool is_open() const noexcept { return fd_ >= 0; }
  const std::string& path() const noexcept { return path_; }

  /// The file's text from offset 0 (at most 4095 bytes), trailing whitespace stripped.
  /// Throws SensorError naming the file on an I/O error or an empty file.
  std::string read_text();
  /// The file parsed as one integer (sysfs units: mV, mA, uW, uJ ...). Throws SensorError
  /// naming the file and the text it held when the content is not one integer.
  int64_t read_int();
  /// Like read_int for files that may hold a decimal number.
  double read_double();

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace edgepower::sysfs
