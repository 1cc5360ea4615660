// Factory of the CUDA engine (internal: users go through make_engine).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "spdnn/challenge/engine.hpp"

namespace spdnn::cuda {

// The engine on the current CUDA device, or nullptr with the reason in `why` (no device, no driver).
// `device_hint` >= 0 selects device hint % count (one GPU per rank on a node).
std::unique_ptr<Engine> make_cuda_engine(std::string* why, int device_hint = -1);
// The engine on GPU `device`; throws Error(usage) if there is no such GPU.
std::unique_ptr<Engine> make_cuda_engine_on(int device);

}  // namespace spdnn::cuda
