#include "dynlib.hpp"

#include <dlfcn.h>

namespace edgepower {

DynamicLibrary::DynamicLibrary(std::string path, const std::string& hint) : path_(std::move(path)) {
  dlerror();
  handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* err = dlerror();
    throw SensorUnavailable("cannot load library '" + path_ + "' (" + (err ? err : "unknown dlopen error") + "). " + hint);
  }
}

DynamicLibrary::~DynamicLibrary() {
  if (handle_ != nullptr) dlclose(handle_);
}

void* DynamicLibrary::resolve(const char* name, bool required) const {
  dlerror();
  void* sym = dlsym(handle_, name);
  if (sym == nullptr && required) {
    const char* err = dlerror();
    throw SensorUnavailable(std::string("symbol '") + name + "' not found in library '" + path_ + "' (" +
                            (err ? err : "null symbol") +
                            "); the library is too old or not the one expected: update the driver "
                            "or point to the right library");
  }
  return sym;
}

}  // namespace edgepower
