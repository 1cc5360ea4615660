// Which GPUs this process can use (see device.hpp).
#include "cuda/device.hpp"

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "cuda/check.hpp"

namespace spdnn::cuda {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::optional<std::string> why_no_cuda_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status == cudaSuccess && count > 0) return std::nullopt;
  (void)cudaGetLastError();
  if (status == cudaSuccess || status == cudaErrorNoDevice) return std::string("no CUDA device");
  if (status == cudaErrorInsufficientDriver) return std::string("no CUDA driver, or one older than this build's CUDA runtime");
  return fmt::format("cudaGetDeviceCount: {}", cudaGetErrorString(status));
}

int current_device_arch() {
  int device = 0;
  cudaDeviceProp prop{};
  SPDNN_CUDA_CHECK(cudaGetDevice(&device));
  SPDNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.major * 10 + prop.minor;
}

std::string current_device_name() {
  int device = 0;
  cudaDeviceProp prop{};
  SPDNN_CUDA_CHECK(cudaGetDevice(&device));
  SPDNN_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

}  // namespace spdnn::cuda
