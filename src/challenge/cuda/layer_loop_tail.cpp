// The last layers with rows alone, in the cuda engine (see row_tail.hpp and layer_loop.hpp).
//
// From kRowTailFrom layers on (SPDNN_ROW_TAIL=k: from k, e.g. 8, after the merge there), one launch takes
// each row through every remaining layer, in structure mode (rows merged and carried before it) and in
// general mode's rows layout alike (no multiplicities, nothing carried).
// It needs the layers' output lists resident (weights not streamed) and nothing between layers: no
// balancing meeting, no per-layer events. Rows at the clip are carried at any layer boundary where
// clip_row_kept allows it (the merges could only carry at theirs), and the launch ends once every row
// has died, been carried or run the last layer, so the batch needs no checkpoints after it.
#include <cuda_fp16.h>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "challenge/cuda/layer_loop.hpp"
#include "cuda/check.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

int32_t row_tail_start() {
  const char* env = std::getenv("SPDNN_ROW_TAIL");
  if (env == nullptr || *env == '\0') return kRowTailFrom;
  int32_t from = 0;
  const char* end = env + std::strlen(env);
  if (const auto [at, ec] = std::from_chars(env, end, from); ec != std::errc{} || at != end || from < 0)
    throw Error(Errc::usage, fmt::format("SPDNN_ROW_TAIL={}: a layer count from which rows go alone (0: never)", env));
  return from;
}

template <class Weight>
void LayerLoop<Weight>::init_row_tail() {
  tail_from_ = layers_;
  const int32_t from = row_tail_start();
  if (from <= 0 || from >= layers_ || plan_.weights_streamed || !meet_.empty() || opt_.layer_times || feature_major_) return;
  int32_t width = packed_.layout[from - 1].outputs;
  for (int32_t l = from; l < layers_; ++l) {
    if (!packed_.layout[l].listed) return;  // packed without output lists (cuda_engine.cpp asks where it runs)
    width = std::max(width, packed_.layout[l].outputs);
  }
  const int rows = spdnn::cuda::row_tail_rows(width, prop_.sharedMemPerBlockOptin);
  int per_sm = 0;
  if (rows == 0 || prepare_row_tail<Weight>(rows, width, &per_sm) != cudaSuccess || per_sm == 0) {
    (void)cudaGetLastError();
    return;
  }
  std::vector<RowTailLayer<Weight>> layers;
  for (int32_t l = from; l < layers_; ++l) {
    const BlobLayout& b = packed_.layout[l];
    const unsigned char* base = weights_.get() + packed_.offset[l];
    layers.push_back({reinterpret_cast<const int32_t*>(base + b.list_ptr), reinterpret_cast<const int32_t*>(base + b.list_pos),
                      reinterpret_cast<const Weight*>(base + b.list_val),
                      b.weighted ? reinterpret_cast<const int32_t*>(base + b.out_weight) : nullptr, b.outputs});
  }
  tail_layers_.upload(layers, "the rows-alone tail's layer table");
  std::vector<char> carry(layers_ + 1, 0);
  for (int32_t b = 1; b < layers_ && static_cast<size_t>(b) < clip_kept_.size(); ++b) carry[b] = clip_kept_[b];
  carry_at_.upload(carry, "the rows-alone tail's carrying boundaries");
  // As many blocks as fit, but no more than the batch's groups of rows.
  tail_blocks_ = static_cast<int>(std::clamp<int64_t>((batch_ + rows - 1) / rows, 1, int64_t{per_sm} * prop_.multiProcessorCount));
  tail_rows_ = rows, tail_width_ = width, tail_from_ = from;
}

template <class Weight>
void LayerLoop<Weight>::enqueue_row_tail() {
  const Side in = side(tail_from_), out = side(layers_);
  RowTailArgs<Weight> a{};
  a.layers = tail_layers_.get(), a.from = tail_from_, a.to = layers_;
  a.width = tail_width_, a.in_width = packed_.layout[tail_from_ - 1].outputs, a.stride = n_;
  a.in = in.feat, a.active = in.list, a.count = counts_.get() + tail_from_, a.ids = in.ids;
  a.mult = merge_rows_ ? in.mult : nullptr;
  a.out = out.feat, a.out_ids = out.ids, a.out_list = out.list;
  a.counts = counts_.get(), a.inputs = merge_rows_ ? inputs_.get() : nullptr, a.nnz = nnz_.get();
  a.carry_at = carry_at_.get(), a.carried = carried_.get(), a.carried_count = carried_count_.get();
  a.bias = net_.bias, a.clip = net_.clip;
  SPDNN_CUDA_CHECK(launch_row_tail<Weight>(a, tail_rows_, tail_blocks_, compute_.s));
  SPDNN_CUDA_SYNC_IF_DEBUG("row_tail");
}

template void LayerLoop<float>::init_row_tail();
template void LayerLoop<__half>::init_row_tail();
template void LayerLoop<float>::enqueue_row_tail();
template void LayerLoop<__half>::enqueue_row_tail();

}  // namespace spdnn::cuda
