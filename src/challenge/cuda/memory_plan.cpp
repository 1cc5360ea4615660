// The cuda engine's memory plan (see memory_plan.hpp).
#include "challenge/cuda/memory_plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "spdnn/error.hpp"

namespace spdnn::cuda {

MemoryPlan plan_memory(size_t free_bytes, size_t network_bytes, size_t max_layer_bytes, int32_t neurons, int64_t candidates,
                       int64_t input_nnz, const RunOptions& opt, bool input_bits) {
  // Engines sharing the GPU (several parts or ranks on one device) each plan with their share.
  free_bytes = static_cast<size_t>(static_cast<double>(free_bytes) * std::clamp(opt.device_memory_share, 0.01, 1.0));
  const size_t reserve = 256u << 20;  // CUB scratch, per-layer counters, allocator slack
  const double avg_input_nnz = candidates > 0 ? static_cast<double>(input_nnz) / static_cast<double>(candidates) : 0.0;
  // Per input row: two feature rows, the input row as bits (when used), the lists and ids, and its share
  // of the uploaded CSR inputs.
  const size_t bits = input_bits ? (static_cast<size_t>(neurons) + 31) / 32 * sizeof(uint32_t) : 0;
  const size_t per_row = 2 * static_cast<size_t>(neurons) * sizeof(float) + bits + 4 * sizeof(int32_t) + 1 +
                         static_cast<size_t>(avg_input_nnz * 8 + 8) * 2;
  const size_t min_rows = static_cast<size_t>(std::min<int64_t>(std::max<int64_t>(candidates, 1), 4096));
  MemoryPlan plan;
  plan.weights_streamed = opt.stream_weights || network_bytes + min_rows * per_row + reserve > free_bytes;
  plan.weight_device_bytes = plan.weights_streamed ? 2 * max_layer_bytes : network_bytes;
  if (plan.weight_device_bytes + reserve + per_row > free_bytes)
    throw Error(Errc::out_of_memory,
                fmt::format("GPU out of memory: {:.1f} MiB of weights{} and one input row need more than the {:.1f} MiB free",
                            plan.weight_device_bytes / 1048576.0, plan.weights_streamed ? " (two streamed layers)" : "",
                            free_bytes / 1048576.0));
  const int64_t batch = opt.batch_inputs > 0
                            ? opt.batch_inputs
                            : static_cast<int64_t>((free_bytes - plan.weight_device_bytes - reserve) / per_row);
  plan.batch = std::clamp<int64_t>(batch, 1, std::max<int64_t>(candidates, 1));
  plan.batches = candidates == 0 ? 0 : (candidates + plan.batch - 1) / plan.batch;
  return plan;
}

}  // namespace spdnn::cuda
