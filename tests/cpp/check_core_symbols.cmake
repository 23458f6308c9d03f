# ctest check (CMakeLists.txt): the archive of edgepower_core defines no symbol of the test
# emulators (csrc/testing) or of the EdgeProfiler compat writers (csrc/compat), and does define
# the trace reader that stays in the core. Run: cmake -DNM=nm -DARCHIVE=libedgepower_core.a -P this
execute_process(COMMAND ${NM} -C --defined-only ${ARCHIVE} OUTPUT_VARIABLE syms RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${NM} failed on ${ARCHIVE}")
endif()
foreach(name IN ITEMS Ina3221Emulator NvmlCounterEmulator NvmlInstantEmulator
                      edgeprofiler::render_csv edgeprofiler::repr_double edgeprofiler::compat_sweep
                      edgeprofiler::corrected_windows edgeprofiler::render_power_log
                      edgeprofiler::format_timestamp_us edgeprofiler::timedelta_ms_to_us)
  string(FIND "${syms}" "${name}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "edgepower_core defines ${name}: it belongs to edgepower_testing/edgepower_compat")
  endif()
endforeach()
foreach(name IN ITEMS edgeprofiler::parse_power_log edgepower::Sampler::start)
  string(FIND "${syms}" "${name}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "edgepower_core does not define ${name}: wrong archive?")
  endif()
endforeach()
message(STATUS "edgepower_core: measurement domain only")
