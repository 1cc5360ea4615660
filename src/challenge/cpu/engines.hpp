// Factories of the CPU engines (internal: users go through make_engine).
#pragma once

#include <memory>
#include <string>

#include "spdnn/challenge/engine.hpp"

namespace spdnn::cpu {

std::unique_ptr<Engine> make_reference_engine();
std::unique_ptr<Engine> make_parallel_engine();

// "CPU: <model name>", read from /proc/cpuinfo where available.
std::string cpu_description(int threads);

}  // namespace spdnn::cpu
