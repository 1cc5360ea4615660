// An owning device allocation whose failure names what was being allocated.
#pragma once

#include <cuda_runtime.h>
#include <fmt/format.h>

#include <string>
#include <utility>
#include <vector>

#include "cuda/allocation_faults.hpp"
#include "cuda/check.hpp"

namespace spdnn::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(size_t count, const std::string& what) { allocate(count, what); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), count_(std::exchange(o.count_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) release(), ptr_ = std::exchange(o.ptr_, nullptr), count_ = std::exchange(o.count_, 0);
    return *this;
  }

  void allocate(size_t count, const std::string& what) {
    release();
    if (count == 0) return;
    cudaError_t status = device_allocation_should_fail() ? cudaErrorMemoryAllocation : cudaMalloc(&ptr_, count * sizeof(T));
    if (status != cudaSuccess) {
      ptr_ = nullptr;
      (void)cudaGetLastError();  // clear the sticky-free error so later calls are unaffected
      size_t free_bytes = 0, total = 0;
      cudaMemGetInfo(&free_bytes, &total);
      throw Error(status == cudaErrorMemoryAllocation ? Errc::out_of_memory : Errc::device,
                  fmt::format("GPU out of memory: allocating {:.1f} MiB for {} ({:.1f} MiB free of {:.1f} MiB)",
                              count * sizeof(T) / 1048576.0, what, free_bytes / 1048576.0, total / 1048576.0));
    }
    count_ = count;
  }
  // allocate() for `host` and a copy of it (nothing to copy when empty).
  void upload(const std::vector<T>& host, const std::string& what) {
    allocate(host.size(), what);
    if (!host.empty()) SPDNN_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  void release() {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }

  T* get() const { return ptr_; }
  size_t size() const { return count_; }

 private:
  T* ptr_ = nullptr;
  size_t count_ = 0;
};

}  // namespace spdnn::cuda
