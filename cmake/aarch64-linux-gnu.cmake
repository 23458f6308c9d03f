# Cross-compiling for 64-bit Arm Linux (Jetson boards) with Debian's g++-aarch64-linux-gnu:
#   cmake -S . -B build/aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# scripts/test-aarch64.sh builds GoogleTest for aarch64 and runs the tests under qemu-user.
# Executables built here run through CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64 with the cross
# sysroot as its library prefix), so gtest_discover_tests and ctest work on an x86_64 host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EDGEPOWER_AARCH64_SYSROOT /usr/aarch64-linux-gnu CACHE PATH
    "Target libraries and headers (Debian's libc6-dev-arm64-cross, libstdc++-dev-arm64-cross)")
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries, headers and CMake packages come from the target's sysroot only (never the host's
# x86_64 ones); programs (the compilers, python for pybind11's scripts) from the host.
list(APPEND CMAKE_FIND_ROOT_PATH ${EDGEPOWER_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

find_program(EDGEPOWER_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static)
if(EDGEPOWER_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EDGEPOWER_QEMU_AARCH64} -L ${EDGEPOWER_AARCH64_SYSROOT})
endif()
