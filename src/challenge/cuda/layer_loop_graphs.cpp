// The cuda engine's layers as CUDA graphs (see layer_loop.hpp).
//
// A batch's layers are cut into segments at meetings (the host moves rows) and at checkpoints (carrying
// merges, after which a batch may have no row left). Each segment is captured once a batch. Where the host
// has nothing to do between segments (no meeting, no per-layer events), the segments become one graph
// that stops on the device: every segment after the first is the body of an IF node whose condition a
// one-thread kernel sets from the count of rows left, so a batch that runs out skips its remaining layers
// without a host round trip (three a batch at 1024 x 120, each an idle GPU while the host reads a count and
// launches the next graph). Drivers without conditional nodes (before CUDA 12.4) get one graph a segment,
// and the host reads the count at each checkpoint; so do SPDNN_DEVICE_STOP=0 and per-layer times.
#include <cuda_fp16.h>

#include "challenge/cuda/kernels.hpp"
#include "challenge/cuda/layer_loop.hpp"
#include "cuda/check.hpp"

namespace spdnn::cuda {

namespace {

struct GraphGuard {
  cudaGraph_t g = nullptr;
  ~GraphGuard() {
    if (g != nullptr) cudaGraphDestroy(g);
  }
};

}  // namespace

template <class Weight>
cudaGraph_t LayerLoop<Weight>::capture_segment(int32_t from, int32_t to, int32_t r0) {
  cudaGraph_t graph = nullptr;
  SPDNN_CUDA_CHECK(cudaStreamBeginCapture(compute_.s, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue_layers(from, to, r0);
  } catch (...) {
    cudaStreamEndCapture(compute_.s, &graph);
    if (graph != nullptr) cudaGraphDestroy(graph);
    throw;
  }
  SPDNN_CUDA_CHECK(cudaStreamEndCapture(compute_.s, &graph));
  return graph;
}

template <class Weight>
cudaGraphExec_t LayerLoop<Weight>::stopping_graph(const std::vector<int32_t>& bounds, int32_t r0) {
  GraphGuard whole;
  SPDNN_CUDA_CHECK(cudaGraphCreate(&whole.g, 0));
  // Each IF node sits in the body of the one before, so that once a batch stops nothing more is evaluated
  // (a flat chain would still run every later check's kernel).
  cudaGraph_t into = whole.g;
  cudaGraphNode_t last = nullptr;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    GraphGuard segment{capture_segment(bounds[s], bounds[s + 1], r0)};
    if (s > 0) {
      cudaGraphNode_t branch = nullptr;
      if (add_rows_left_branch(into, last, counts_.get() + bounds[s], &branch, &into) != cudaSuccess) {
        (void)cudaGetLastError();  // no conditional nodes here: the caller falls back to the host's checks
        return nullptr;
      }
    }
    SPDNN_CUDA_CHECK(cudaGraphAddChildGraphNode(&last, into, nullptr, 0, segment.g));
  }
  cudaGraphExec_t exec = nullptr;
  if (cudaGraphInstantiate(&exec, whole.g, 0) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return exec;
}

template cudaGraph_t LayerLoop<float>::capture_segment(int32_t, int32_t, int32_t);
template cudaGraph_t LayerLoop<__half>::capture_segment(int32_t, int32_t, int32_t);
template cudaGraphExec_t LayerLoop<float>::stopping_graph(const std::vector<int32_t>&, int32_t);
template cudaGraphExec_t LayerLoop<__half>::stopping_graph(const std::vector<int32_t>&, int32_t);

}  // namespace spdnn::cuda
