#include "sysfs.hpp"

#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "../sensor.hpp"

namespace edgepower::sysfs {

namespace {
void rstrip(std::string* s) {
  while (!s->empty() && std::isspace(static_cast<unsigned char>(s->back()))) s->pop_back();
}

// Shortened, printable copy of a bad value for an error message.
std::string quote(const std::string& text) {
  std::string s;
  for (char c : text.substr(0, 40)) s += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (text.size() > 40) s += "...";
  return "'" + s + "'";
}
}  // namespace

std::string join(const std::string& root, const std::string& rel) {
  std::string r = root.empty() ? "/" : root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  std::size_t i = 0;
  while (i < rel.size() && rel[i] == '/') ++i;
  if (r == "/") return "/" + rel.substr(i);
  return r + "/" + rel.substr(i);
}

std::vector<std::string> glob(const std::string& pattern) {
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  return out;  // glob(3) sorts by default
}

bool exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::string errno_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

bool read_text(const std::string& path, std::string* out, int* err) {
  File f;
  int e = 0;
  if (!f.open(path, &e)) {
    if (err) *err = e;
    return false;
  }
  try {
    *out = f.read_text();
  } catch (const SensorError&) {
    // An empty file is text "", an I/O error is a failure.
    if (err) *err = EIO;
    out->clear();
    return false;
  }
  return true;
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

File::File(File&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

bool File::open(const std::string& path, int* err) {
  if (fd_ >= 0) ::close(fd_);
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    if (err) *err = errno;
    return false;
  }
  return true;
}

std::string File::read_text() {
  if (fd_ < 0) throw SensorError(path_ + ": file is not open");
  char buf[4096];
  ssize_t n;
  do {
    n = ::pread(fd_, buf, sizeof(buf) - 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) throw SensorError("cannot read " + path_ + ": " + errno_text(errno));
  std::string s(buf, static_cast<std::size_t>(n));
  rstrip(&s);
  return s;
}

int64_t File::read_int() {
  const std::string s = read_text();
  if (s.empty()) throw SensorError(path_ + " is empty; expected an integer");
  const char* begin = s.c_str();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(begin, &end, 10);
  if (end == begin || *end != '\0' || errno == ERANGE) {
    throw SensorError(path_ + " holds " + quote(s) + ", not an integer");
  }
  return v;
}

double File::read_double() {
  const std::string s = read_text();
  if (s.empty()) throw SensorError(path_ + " is empty; expected a number");
  const char* begin = s.c_str();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin || *end != '\0' || !std::isfinite(v)) {
    throw SensorError(path_ + " holds " + quote(s) + ", not a number");
  }
  return v;
}

}  // namespace edgepower::sysfs
