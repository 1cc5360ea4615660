// The last layers of a feature-major network in one launch (column_window.cuh), when asked:
// SPDNN_LAYER_WINDOW=F[,W] runs layers F..L (1-based, F >= 2) as one window, W slices of rows a wave
// (default 1), or the layers after F whose kernel is the last layer's. The layers before it run one launch
// each, as always. Not yet a default: it is measured against the layer-by-layer loop first
// (docs/challenge-engine.md).
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "challenge/cuda/layer_blob.hpp"
#include "challenge/cuda/layer_loop.hpp"
#include "cuda/check.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

template <class Weight>
void LayerLoop<Weight>::setup_window() {
  const char* env = std::getenv("SPDNN_LAYER_WINDOW");
  if (env == nullptr || *env == '\0') return;
  int first = 0, wave = 1;
  const auto fail = [&](const std::string& why) {
    throw Error(Errc::usage, fmt::format("SPDNN_LAYER_WINDOW={}: {}", env, why));
  };
  if (std::sscanf(env, "%d,%d", &first, &wave) < 1 || first < 2 || wave < 1)
    fail("expected F[,W]: the window's first layer F >= 2 (1-based) and W >= 1 slices a wave");
  if (first > layers_) return;  // nothing to put in a window
  if (!feature_major_) fail("windows need the feature-major layout (SPDNN_LAYER_KERNEL=columns forces it)");
  if (plan_.weights_streamed) fail("windows need every layer's weights on the device, and they stream");
  if (!meet_.empty()) fail("windows do not take balancing meetings");
  if (opt_.layer_times) fail("a window is one launch, so its layers cannot be timed one by one (--layer-times)");
  // One kernel for the whole window: it starts at the first layer from F on after which every layer has
  // the last layer's kernel, rounding and width.
  const BlobLayout& head = packed_.layout[layers_ - 1];
  auto same = [&](const BlobLayout& b) { return b.kernel == head.kernel && b.fused == head.fused && b.outputs == head.outputs; };
  int32_t from = layers_ - 1;
  while (from > first - 1 && same(packed_.layout[from - 1])) --from;
  int blocks_per_sm = 0;
  if (prepare_window_kernel<Weight>(head.kernel, head.fused, &blocks_per_sm) != cudaSuccess || blocks_per_sm == 0)
    fail(fmt::format("no window kernel for {} rows x {} threads x {} outputs", head.kernel.rows, head.kernel.threads,
                     head.kernel.outputs_per_thread));
  window_from_ = from;
  window_wave_ = wave;
  window_blocks_ = blocks_per_sm * prop_.multiProcessorCount;
  window_slices_ = static_cast<int32_t>((batch_ + head.kernel.rows - 1) / head.kernel.rows);
  mark_words_ = static_cast<int32_t>((batch_ + 31) / 32);
  std::vector<WindowLayer<Weight>> layers;
  for (int32_t l = from; l < layers_; ++l) {
    LayerArgs<Weight> a{};
    bind_layer(a, packed_.layout[l], weights_.get() + packed_.offset[l]);
    layers.push_back({a.group_steps, a.step_pos, a.step_val});
  }
  window_layers_.allocate(layers.size(), "the window's layers");
  SPDNN_CUDA_CHECK(cudaMemcpy(window_layers_.get(), layers.data(), layers.size() * sizeof(layers[0]), cudaMemcpyHostToDevice));
  window_marks_.allocate(layers.size() * mark_words_, "the window's row marks");
  window_done_.allocate(layers.size() * window_slices_, "the window's item counters");
  window_ticket_.allocate(1, "the window's ticket");
}

// Rows keep their place through the window: it computes every row the layer before it wrote (a row that
// died there stays zero), counts each layer's rows from its marks, and lists the last layer's survivors.
template <class Weight>
void LayerLoop<Weight>::enqueue_window(int32_t from, int32_t to) {
  const int32_t layers = to - from;
  const BlobLayout& head = packed_.layout[from];
  cudaStream_t s = compute_.s;
  SPDNN_CUDA_CHECK(cudaMemsetAsync(window_marks_.get(), 0, static_cast<size_t>(layers) * mark_words_ * sizeof(uint32_t), s));
  SPDNN_CUDA_CHECK(cudaMemsetAsync(window_done_.get(), 0, static_cast<size_t>(layers) * window_slices_ * sizeof(int32_t), s));
  SPDNN_CUDA_CHECK(cudaMemsetAsync(window_ticket_.get(), 0, sizeof(unsigned long long), s));
  WindowArgs<Weight> w{};
  w.layer = window_layers_.get() + (from - window_from_);
  w.layers = layers;
  w.side[0] = side(from).feat, w.side[1] = side(from + 1).feat;
  w.rows = counts_.get() + from - 1;  // the rows the layer before the window read, and wrote
  w.stride = static_cast<int32_t>(batch_);
  w.outputs = head.outputs;
  w.wave = window_wave_;
  w.nnz = nnz_.get() + from;
  w.marks = window_marks_.get(), w.mark_words = mark_words_;
  w.done = window_done_.get(), w.max_slices = window_slices_;
  w.ticket = window_ticket_.get();
  w.bias = net_.bias, w.clip = net_.clip;
  SPDNN_CUDA_CHECK(launch_window_kernel<Weight>(head.kernel, head.fused, w, window_blocks_, s));
  SPDNN_CUDA_CHECK(launch_window_rows(w.marks, mark_words_, layers, w.rows, counts_.get() + from + 1, side(from).ids,
                                      side(to).ids, side(to).list, s));
  SPDNN_CUDA_SYNC_IF_DEBUG("layer window");
}

template void LayerLoop<float>::setup_window();
template void LayerLoop<__half>::setup_window();
template void LayerLoop<float>::enqueue_window(int32_t, int32_t);
template void LayerLoop<__half>::enqueue_window(int32_t, int32_t);

}  // namespace spdnn::cuda
