// Owned CUDA streams, events and captured graphs (RAII), and the timing of calls replayed from a graph:
// the GPU's time per call without the host's cost of launching each one. Tuning (sparse_linear.cpp)
// and `spdnn sparse bench` time the same way.
#pragma once

#include <cuda_runtime.h>

#include <functional>

#include "cuda/check.hpp"

namespace spdnn::cuda {

struct Stream {
  cudaStream_t s{};
  Stream() { SPDNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(s); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

struct Event {
  cudaEvent_t e{};
  explicit Event(unsigned flags = cudaEventDisableTiming) { SPDNN_CUDA_CHECK(cudaEventCreateWithFlags(&e, flags)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

// Microseconds per call between two recorded timing events around `calls` calls (waits for `stop`).
inline double microseconds_per_call(cudaEvent_t start, cudaEvent_t stop, int calls) {
  SPDNN_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  SPDNN_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  return ms * 1000.0 / calls;
}

// `calls` calls of `enqueue`, captured once on `stream` (which must not be the legacy default stream)
// and replayed as one graph launch.
class CapturedCalls {
 public:
  CapturedCalls(const std::function<void(cudaStream_t)>& enqueue, cudaStream_t stream, int calls)
      : stream_(stream), calls_(calls) {
    cudaGraph_t graph = nullptr;
    SPDNN_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    try {
      for (int c = 0; c < calls; ++c) enqueue(stream);
    } catch (...) {
      if (cudaStreamEndCapture(stream, &graph) == cudaSuccess && graph != nullptr) cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      throw;
    }
    SPDNN_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    const cudaError_t status = cudaGraphInstantiate(&exec_, graph, 0);
    cudaGraphDestroy(graph);
    SPDNN_CUDA_CHECK(status);
  }
  ~CapturedCalls() { cudaGraphExecDestroy(exec_); }
  CapturedCalls(const CapturedCalls&) = delete;
  CapturedCalls& operator=(const CapturedCalls&) = delete;

  void replay() { SPDNN_CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

  // One replay, timed: microseconds per call.
  double time_us() {
    SPDNN_CUDA_CHECK(cudaEventRecord(start_.e, stream_));
    replay();
    SPDNN_CUDA_CHECK(cudaEventRecord(stop_.e, stream_));
    return microseconds_per_call(start_.e, stop_.e, calls_);
  }

 private:
  cudaStream_t stream_;
  int calls_;
  cudaGraphExec_t exec_ = nullptr;
  Event start_{cudaEventDefault}, stop_{cudaEventDefault};
};

}  // namespace spdnn::cuda
