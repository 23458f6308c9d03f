# The LibTorch component: libedgepower_torch.so, the torch op library `edgepower._torch`
# (TORCH_LIBRARY(edgepower) + torch::class_, no pybind11, no Python headers), loaded from Python
# with torch.ops.load_library by edgepower.torch_native.
#
# EDGEPOWER_WITH_TORCH = OFF | AUTO (default) | ON
#   AUTO: built when the build's Python imports torch (never under pip's build isolation, where
#         torch is absent: plain `pip install .` builds the core alone); skipped otherwise.
#   ON:   torch must be importable; otherwise configuration stops and says how to build it.
#
# torch is linked by path (c10, torch_cpu from the wheel's lib/), not with find_package(Torch):
# the CUDA wheels' TorchConfig.cmake stops with FATAL_ERROR when the CUDA toolkit (nvcc) is not
# installed, which a CPU-only op library does not need.
set(EDGEPOWER_WITH_TORCH "AUTO" CACHE STRING "Build the LibTorch component edgepower._torch: OFF, AUTO or ON")
set_property(CACHE EDGEPOWER_WITH_TORCH PROPERTY STRINGS OFF AUTO ON)
string(TOUPPER "${EDGEPOWER_WITH_TORCH}" _ep_with_torch)
if(NOT _ep_with_torch MATCHES "^(OFF|AUTO|ON)$")
  message(FATAL_ERROR "EDGEPOWER_WITH_TORCH must be OFF, AUTO or ON, got '${EDGEPOWER_WITH_TORCH}'")
endif()

set(EDGEPOWER_TORCH_BUILT OFF)
if(NOT _ep_with_torch STREQUAL "OFF")
  if(NOT Python_EXECUTABLE)
    find_package(Python 3.9 COMPONENTS Interpreter)
  endif()
  set(_ep_probe_out "")
  set(_ep_probe_rc 1)
  if(Python_EXECUTABLE)
    # One line: torch dir | version | CUDA version | C++11 ABI flag | cmake prefix path
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c
        "import os, torch, torch.utils; print(os.path.dirname(torch.__file__), torch.__version__, torch.version.cuda or 'none', int(torch._C._GLIBCXX_USE_CXX11_ABI), torch.utils.cmake_prefix_path, sep='|')"
      RESULT_VARIABLE _ep_probe_rc
      OUTPUT_VARIABLE _ep_probe_out
      ERROR_VARIABLE _ep_probe_err
      OUTPUT_STRIP_TRAILING_WHITESPACE)
  else()
    set(_ep_probe_err "no Python interpreter found")
  endif()
  if(NOT _ep_probe_rc EQUAL 0)
    string(REGEX REPLACE ".*\n([^\n]+)\n?$" "\\1" _ep_probe_last "${_ep_probe_err}")
    set(_ep_why "`${Python_EXECUTABLE} -c 'import torch'` failed: ${_ep_probe_last}")
    if(_ep_with_torch STREQUAL "ON")
      message(FATAL_ERROR
        "EDGEPOWER_WITH_TORCH=ON but torch is not importable by the build's Python (${_ep_why}). "
        "pip's build isolation hides the installed torch: build with it visible, e.g.\n"
        "  pip install --no-build-isolation -C cmake.define.EDGEPOWER_WITH_TORCH=ON .\n"
        "(pip install scikit-build-core pybind11 ninja first), or configure with "
        "-DPython_EXECUTABLE=<a python that has torch>.")
    endif()
    message(STATUS "edgepower._torch: skipped (EDGEPOWER_WITH_TORCH=AUTO and ${_ep_why})")
  else()
    string(REPLACE "|" ";" _ep_probe "${_ep_probe_out}")
    list(GET _ep_probe 0 EDGEPOWER_TORCH_DIR)
    list(GET _ep_probe 1 EDGEPOWER_TORCH_VERSION)
    list(GET _ep_probe 2 EDGEPOWER_TORCH_CUDA)
    list(GET _ep_probe 3 EDGEPOWER_TORCH_CXX11_ABI)
    set(_ep_lib "${EDGEPOWER_TORCH_DIR}/lib")
    set(_ep_missing "")
    foreach(_f IN ITEMS "${_ep_lib}/libc10.so" "${_ep_lib}/libtorch_cpu.so"
                        "${EDGEPOWER_TORCH_DIR}/include/ATen/record_function.h")
      if(NOT EXISTS "${_f}")
        list(APPEND _ep_missing "${_f}")
      endif()
    endforeach()
    if(_ep_missing)
      set(_ep_why "torch ${EDGEPOWER_TORCH_VERSION} at ${EDGEPOWER_TORCH_DIR} lacks ${_ep_missing} (a wheel without C++ headers and libraries?)")
      if(_ep_with_torch STREQUAL "ON")
        message(FATAL_ERROR "EDGEPOWER_WITH_TORCH=ON but ${_ep_why}")
      endif()
      message(STATUS "edgepower._torch: skipped (${_ep_why})")
    else()
      set(EDGEPOWER_TORCH_BUILT ON)
    endif()
  endif()
endif()

if(EDGEPOWER_TORCH_BUILT)
  message(STATUS "edgepower._torch: building against torch ${EDGEPOWER_TORCH_VERSION} (CUDA ${EDGEPOWER_TORCH_CUDA}, "
                 "_GLIBCXX_USE_CXX11_ABI=${EDGEPOWER_TORCH_CXX11_ABI}) at ${EDGEPOWER_TORCH_DIR}")
  # What this build was compiled against: a header for the C++ side, a JSON beside the library
  # that Python reads *before* loading it (a mismatched torch must not even dlopen it).
  set(EDGEPOWER_TORCH_COMPILER "${CMAKE_CXX_COMPILER_ID} ${CMAKE_CXX_COMPILER_VERSION}")
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/csrc/torch/build_info.hpp.in
                 ${CMAKE_CURRENT_BINARY_DIR}/edgepower_torch/build_info.hpp @ONLY)
  configure_file(${CMAKE_CURRENT_SOURCE_DIR}/csrc/torch/build_info.json.in
                 ${CMAKE_CURRENT_BINARY_DIR}/libedgepower_torch.json @ONLY)

  add_library(edgepower_torch_deps INTERFACE)
  target_include_directories(edgepower_torch_deps SYSTEM INTERFACE
    "${EDGEPOWER_TORCH_DIR}/include" "${EDGEPOWER_TORCH_DIR}/include/torch/csrc/api/include")
  # Not csrc/ itself: csrc/torch/ must not shadow torch's own <torch/...> headers (the sources
  # include their neighbours and ../core/clock.hpp by relative path).
  target_include_directories(edgepower_torch_deps INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_compile_definitions(edgepower_torch_deps INTERFACE _GLIBCXX_USE_CXX11_ABI=${EDGEPOWER_TORCH_CXX11_ABI})
  # torch 2.14's headers use concepts and std::strong_ordering: C++20 for this component only.
  target_compile_features(edgepower_torch_deps INTERFACE cxx_std_20)
  target_link_libraries(edgepower_torch_deps INTERFACE "${_ep_lib}/libtorch_cpu.so" "${_ep_lib}/libc10.so"
                        Threads::Threads)

  # The code, without the op registration (the C++ tests link it directly).
  add_library(edgepower_torch_impl STATIC csrc/torch/op_observer.cpp csrc/torch/native_runner.cpp)
  target_link_libraries(edgepower_torch_impl PUBLIC edgepower_torch_deps)
  target_compile_options(edgepower_torch_impl PRIVATE -Wall -Wextra)
  set_target_properties(edgepower_torch_impl PROPERTIES POSITION_INDEPENDENT_CODE ON CXX_STANDARD 20)

  add_library(edgepower_torch SHARED csrc/torch/library.cpp)
  target_link_libraries(edgepower_torch PRIVATE edgepower_torch_impl)
  target_compile_options(edgepower_torch PRIVATE -Wall -Wextra)
  # torch is loaded before this library (torch.ops.load_library), so c10/torch_cpu resolve by
  # soname; the RPATH covers a torch installed beside edgepower in the same site-packages.
  set_target_properties(edgepower_torch PROPERTIES CXX_STANDARD 20 OUTPUT_NAME edgepower_torch
                        INSTALL_RPATH "$ORIGIN/../torch/lib" BUILD_RPATH "${_ep_lib}")
  if(EDGEPOWER_BUILD_PYTHON)
    install(TARGETS edgepower_torch LIBRARY DESTINATION edgepower)
    install(FILES ${CMAKE_CURRENT_BINARY_DIR}/libedgepower_torch.json DESTINATION edgepower)
  endif()
endif()

# ---- C++ tests of the torch-linked code (a separate executable, only when _torch is built) ----
if(EDGEPOWER_TORCH_BUILT AND EDGEPOWER_BUILD_TESTS)
  if(NOT EDGEPOWER_TORCH_CXX11_ABI EQUAL 1)
    message(STATUS "edgepower._torch C++ tests skipped: torch uses _GLIBCXX_USE_CXX11_ABI=0 and the system's "
                   "GoogleTest the new ABI; they cannot be linked together")
  else()
    file(GLOB EDGEPOWER_TORCH_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tests/cpp_torch/*.cpp)
    add_executable(edgepower_torch_tests ${EDGEPOWER_TORCH_TEST_SOURCES})
    target_include_directories(edgepower_torch_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/csrc/torch)
    target_link_libraries(edgepower_torch_tests PRIVATE edgepower_torch_impl GTest::gtest GTest::gtest_main
                          ${CMAKE_DL_LIBS})
    set_target_properties(edgepower_torch_tests PROPERTIES CXX_STANDARD 20 BUILD_RPATH "${_ep_lib}")
    add_dependencies(edgepower_torch_tests edgepower_torch)
    target_compile_definitions(edgepower_torch_tests PRIVATE
      EDGEPOWER_TORCH_LIBRARY="$<TARGET_FILE:edgepower_torch>"
      EDGEPOWER_TORCH_TEST_TMP="${CMAKE_CURRENT_BINARY_DIR}/torch_test_tmp")
    gtest_discover_tests(edgepower_torch_tests TEST_PREFIX "torch." DISCOVERY_TIMEOUT 120 PROPERTIES TIMEOUT 300)
  endif()
endif()
