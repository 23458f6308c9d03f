// edgepower-record: samples a power sensor and writes edgepower's trace CSV, with marks from the
// measured program; see options.cpp (usage) and docs/jetpack4.md.
#include <iostream>
#include <string>
#include <vector>

#include "options.hpp"
#include "recorder.hpp"

int main(int argc, char** argv) {
  using namespace edgepower::record;
  RecordOptions options;
  try {
    options = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::cerr << "edgepower-record: error: " << e.what() << "\n";
    return 2;
  }
  if (options.help) {
    std::cout << usage();
    return 0;
  }
  if (options.version) {
    std::cout << "edgepower-record " << recorder_version() << "\n";
    return 0;
  }
  if (options.list_sensors) return list_sensors(options.root, std::cout);
  return run_recorder(options, std::cerr);
}
