// Structure mode's first layer computed from position-major bits with a lane a 32-row word
// (first_layer_words.cu): the feature-major kernel's outputs and row marks, in about a third of its
// instructions, for first layers of one output a group whose inputs go as bits.
#pragma once

#include <cuda_runtime.h>

#include "challenge/cuda/layer_args.hpp"

namespace spdnn::cuda {

// `args` as the feature-major first layer's (LayerArgs::in_bits position-major, one weight a step); a
// grid of as many blocks as fit on `multiprocessors` SMs.
template <class Weight>
cudaError_t launch_first_layer_words(const LayerArgs<Weight>& args, int multiprocessors, cudaStream_t stream);

}  // namespace spdnn::cuda
