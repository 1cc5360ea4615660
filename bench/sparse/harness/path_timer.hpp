// How the pruned-layer benchmarks time a path (sparse_bench.cpp: linear layers; conv_bench.cpp:
// convolutions): a path is a callable that enqueues one call on a stream, timed in rounds of `calls`
// back-to-back calls and as one replay of a CUDA graph of them; the median round is reported.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "cuda/check.hpp"
#include "cuda/stream.hpp"

namespace spdnn::bench {

using Enqueue = std::function<void(cudaStream_t)>;

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

class PathTimer {
 public:
  PathTimer(const Enqueue& enqueue, cudaStream_t stream, int calls)
      : enqueue_(enqueue), stream_(stream), calls_(calls), graph_(enqueue, stream, calls) {}

  // One round: a few warm-up calls, `calls` back to back, then a warm-up replay and a timed one.
  void round() {
    for (int c = 0; c < 5; ++c) enqueue_(stream_);  // warm up (clocks, caches)
    SPDNN_CUDA_CHECK(cudaEventRecord(start_.e, stream_));
    for (int c = 0; c < calls_; ++c) enqueue_(stream_);
    SPDNN_CUDA_CHECK(cudaEventRecord(stop_.e, stream_));
    plain_.push_back(cuda::microseconds_per_call(start_.e, stop_.e, calls_));
    graph_.replay();  // warm up
    graph_times_.push_back(graph_.time_us());
  }
  double plain_us() const { return median(plain_); }
  double graph_us() const { return median(graph_times_); }

 private:
  Enqueue enqueue_;
  cudaStream_t stream_;
  int calls_;
  cuda::CapturedCalls graph_;
  cuda::Event start_{cudaEventDefault}, stop_{cudaEventDefault};
  std::vector<double> plain_, graph_times_;
};

}  // namespace spdnn::bench
