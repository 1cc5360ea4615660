// A one-line description of the host CPU for reports.
#include <fmt/format.h>

#include <fstream>
#include <string>

#include "challenge/cpu/engines.hpp"

namespace spdnn::cpu {

std::string cpu_description(int threads) {
  std::ifstream in("/proc/cpuinfo");
  std::string line, model = "unknown model";
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) model = line.substr(line.find_first_not_of(" \t", colon + 1));
      break;
    }
  }
  return fmt::format("CPU: {} ({} thread{})", model, threads, threads == 1 ? "" : "s");
}

}  // namespace spdnn::cpu
