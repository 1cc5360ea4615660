// Tuning: which block width of which generated module (or the generic kernel) computes a layer fastest
// for a column count N (a convolution: its output pixels), timed on the device as the calls will run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sparse/cuda/launcher.hpp"

namespace spdnn::cuda {

// Every block width worth timing for each module (64 to its launch bound, whole warps per set of
// threads, at most one idle half of a block at this N), then the generic kernel when `with_generic`.
std::vector<Choice> tuning_choices(const std::vector<const LoadedModule*>& modules, int64_t n, bool with_generic);

// Enqueues one call of a choice on a stream (a sparse linear layer's or a convolution's launcher).
using ChoiceLaunch = std::function<void(const Choice& c, const float* x, float* y, cudaStream_t stream)>;

// Each choice timed as CUDA-graph replays of its calls, in interleaved rounds, on zeroed X and Y of
// x_size and y_size floats: microseconds per call, or nullopt where the device refused a cluster launch
// (with a note).
std::vector<std::optional<double>> time_choices(const ChoiceLaunch& launch, const std::vector<Choice>& choices,
                                                size_t x_size, size_t y_size, std::vector<std::string>* notes);

}  // namespace spdnn::cuda
