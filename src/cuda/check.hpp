// One check for every CUDA runtime call: failures become spdnn::Error naming the call, file and line
// (out-of-memory as Errc::out_of_memory); nothing aborts. SPDNN_CUDA_SYNC_CHECK=1 in the environment
// makes SPDNN_CUDA_SYNC_IF_DEBUG synchronize after each launch, to pin an asynchronous error on its kernel.
#pragma once

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cstdlib>

#include "spdnn/error.hpp"

namespace spdnn::cuda {

inline void check(cudaError_t status, const char* expr, const char* file, int line) {
  if (status == cudaSuccess) return;
  const Errc code = status == cudaErrorMemoryAllocation ? Errc::out_of_memory : Errc::device;
  throw Error(code, fmt::format("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(status),
                                cudaGetErrorString(status), expr, file, line));
}

inline bool sync_after_launch() {
  static const bool on = [] {
    const char* v = std::getenv("SPDNN_CUDA_SYNC_CHECK");
    return v != nullptr && *v == '1';
  }();
  return on;
}

}  // namespace spdnn::cuda

#define SPDNN_CUDA_CHECK(expr) ::spdnn::cuda::check((expr), #expr, __FILE__, __LINE__)
// After a launch: with SPDNN_CUDA_SYNC_CHECK=1, wait for it so an asynchronous fault names its kernel.
#define SPDNN_CUDA_SYNC_IF_DEBUG(what) \
  if (::spdnn::cuda::sync_after_launch()) ::spdnn::cuda::check(cudaDeviceSynchronize(), what, __FILE__, __LINE__)
