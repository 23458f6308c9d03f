#pragma once
// The one run-time library loader: dlopen a library on first use and resolve each symbol through
// load_symbol<Signature>(), which names the symbol and the library when it fails (as
// CTranslate2's cublas_stub does). Used for NVML, which is never linked.
#include <memory>
#include <string>

#include "../sensor.hpp"

namespace edgepower {

class DynamicLibrary {
 public:
  /// dlopen(path, RTLD_NOW | RTLD_LOCAL). Throws SensorUnavailable with dlerror() and `hint`
  /// (what to install or set) when the library cannot be opened.
  DynamicLibrary(std::string path, const std::string& hint);
  ~DynamicLibrary();  ///< dlclose
  DynamicLibrary(const DynamicLibrary&) = delete;
  DynamicLibrary& operator=(const DynamicLibrary&) = delete;

  const std::string& path() const noexcept { return path_; }

  /// The symbol as a Signature*; throws SensorUnavailable naming symbol and library when absent.
  template <typename Signature>
  Signature* load_symbol(const char* name) const {
    return reinterpret_cast<Signature*>(resolve(name, true));
  }
  /// Like load_symbol but returns nullptr when the symbol is absent (optional, newer APIs).
  template <typename Signature>
  Signature* load_optional_symbol(const char* name) const {
    return reinterpret_cast<Signature*>(resolve(name, false));
  }

 private:
  void* resolve(const char* name, bool required) const;
  std::string path_;
  void* handle_ = nullptr;
};

}  // namespace edgepower
