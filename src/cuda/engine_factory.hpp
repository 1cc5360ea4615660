// Factory of the CUDA engine (internal: users go through make_engine).
#pragma once

#include <memory>
#include <string>

#include "spdnn/engine.hpp"

namespace spdnn::cuda {

// The engine on the current CUDA device, or nullptr with the reason in `why` (no device, no driver).
std::unique_ptr<Engine> make_cuda_engine(std::string* why);

}  // namespace spdnn::cuda
