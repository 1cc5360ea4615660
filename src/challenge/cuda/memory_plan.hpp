// Step 2 of the cuda engine: what lives in device memory. The weights stay resident when they fit beside
// a useful batch of inputs, else they stream through two layer slots; the batch of inputs is sized from
// what is left (or forced). Plain C++, so that it is tested without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "spdnn/challenge/engine.hpp"

namespace spdnn::cuda {

struct MemoryPlan {
  bool weights_streamed = false;
  size_t weight_device_bytes = 0;  // the whole network, or two streaming slots
  int64_t batch = 1;               // inputs per batch
  int64_t batches = 0;
};

// `free_bytes`: the device's free memory; `network_bytes` and `max_layer_bytes`: the packed network;
// `candidates`: inputs with any nonzero (`input_nnz` nonzeros in all); `input_bits`: the first layer reads
// its input rows as bits too (LayerArgs::in_bits). Honours RunOptions::batch_inputs, stream_weights and
// device_memory_share. Throws Error(out_of_memory) when not even one input fits.
MemoryPlan plan_memory(size_t free_bytes, size_t network_bytes, size_t max_layer_bytes, int32_t neurons, int64_t candidates,
                       int64_t input_nnz, const RunOptions& opt, bool input_bits = false);

}  // namespace spdnn::cuda
