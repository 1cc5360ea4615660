// Structure mode's first layer as counts, in the cuda engine (see first_layer_counts.hpp and layer_loop.hpp):
// the plan goes to the device once, and each batch's first layer is one launch that writes the rows the
// second layer reads, marks the rows with a nonzero output for select_rows and counts the layer's
// nonzeros, in place of the feature-major layer and its transpose.
#include <cuda_fp16.h>

#include "challenge/cuda/layer_loop.hpp"
#include "cuda/check.hpp"

namespace spdnn::cuda {

template <class Weight>
void LayerLoop<Weight>::init_first_counts() {
  if (!packed_.first_counts) return;  // planned only for a feature-major first layer on bits (cuda_engine.cpp)
  const FirstLayerCounts& plan = *packed_.first_counts;
  first_ptr_.upload(plan.ptr, "the first layer's output lists");
  first_pos_.upload(plan.pos, "the first layer's inputs");
  first_weight_.upload(plan.weight, "the first layer's group sizes");
  first_table_.upload(plan.table, "the first layer's table of sums");
  first_counts_ = true;
}

template <class Weight>
void LayerLoop<Weight>::enqueue_first_counts(const Side& out, int32_t r0) {
  const FirstLayerCounts& plan = *packed_.first_counts;
  FirstCountsArgs a{};
  a.bits = in_bits_.get(), a.words = input_words_;
  a.ptr = first_ptr_.get(), a.pos = first_pos_.get(), a.out_weight = plan.weight.empty() ? nullptr : first_weight_.get();
  a.table = first_table_.get(), a.table_size = static_cast<int32_t>(plan.table.size());
  a.outputs = static_cast<int32_t>(plan.ptr.size()) - 1, a.rows = r0;
  a.out = out.feat, a.stride = n_, a.marks = row_total_.get(), a.nnz = nnz_.get();
  SPDNN_CUDA_CHECK(launch_first_layer_counts(a, prop_.multiProcessorCount, compute_.s));
}

template void LayerLoop<float>::init_first_counts();
template void LayerLoop<__half>::init_first_counts();
template void LayerLoop<float>::enqueue_first_counts(const Side&, int32_t);
template void LayerLoop<__half>::enqueue_first_counts(const Side&, int32_t);

}  // namespace spdnn::cuda
