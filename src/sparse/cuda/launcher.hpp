// The device side of one sparse linear layer: W in CSR for the generic kernel, the generated modules
// loaded so far, and the launch of either for a call.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "sparse/codegen/emit.hpp"
#include "sparse/cuda/generic_kernel.hpp"
#include "spdnn/csr.hpp"
#include "spdnn/sparse/kernel_config.hpp"

namespace spdnn::cuda {

// A generated module on the device.
struct LoadedModule {
  cudaLibrary_t library = nullptr;
  cudaKernel_t kernel = nullptr;
  KernelConfig config;  // module_of(...): launch parameters at their defaults
  int64_t stride = 0;   // N compiled in, or 0
};

// How a call is computed: a module and its block width, or (module null) the generic kernel.
struct Choice {
  const LoadedModule* module = nullptr;
  int threads = 0;
};
// The whole configuration of a generated choice: its module's, with the block width.
KernelConfig config_of(const Choice& c);

// Adds to `config` (which has room) the launch attribute that makes the S blocks of a group's K slices one
// cluster (1, S, 1) where `s` splits K over a cluster; nothing otherwise.
void add_cluster_attribute(cudaLaunchConfig_t& config, const KernelConfig& s);

// The generated modules a launcher has loaded, by key, on the device current when it was made (whose
// opt-in shared memory a kernel with split K partial sums may use), each with its kernel `name`; unloaded
// with it.
class LoadedModules {
 public:
  explicit LoadedModules(const char* kernel_name);
  ~LoadedModules();
  LoadedModules(const LoadedModules&) = delete;
  LoadedModules& operator=(const LoadedModules&) = delete;

  // The module stored under `key`, if loaded.
  const LoadedModule* find(const std::string& key) const;
  // Loads `cubin` (of `config`, compiled for `stride`, 0 if none) under `key`. Throws Error on failure.
  const LoadedModule& load(const std::string& key, const KernelConfig& config, int64_t stride, const std::vector<char>& cubin);

 private:
  const char* name_;
  int device_ = 0;
  cudaDeviceProp prop_{};
  std::map<std::string, LoadedModule> modules_;
};

class Launcher {
 public:
  // Copies W (and its generic-kernel plans) and the bias to the current device.
  Launcher(const CsrMatrix& w, const std::vector<float>& bias, bool relu, bool dependent_launch);
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  LoadedModules& modules() { return modules_; }

  // The grid of a generated kernel of `config` over n columns.
  dim3 grid(const KernelConfig& config, int64_t n) const;

  // y (M x n) = act(W x + b) on `stream`, asynchronously.
  void launch(const Choice& c, const float* x, float* y, int64_t n, cudaStream_t stream) const;

 private:
  GenericView view() const;

  int64_t rows_, cols_;
  bool relu_, dependent_launch_, has_bias_;
  DeviceBuffer<int64_t> row_ptr_;
  DeviceBuffer<int32_t> col_idx_;
  DeviceBuffer<float> values_, bias_;
  struct DevicePlan {  // a work plan of the generic kernel, on the device
    DeviceBuffer<GenericPiece> slots;
    int64_t blocks = 0;
    GenericPlanView view() const { return {slots.get(), blocks}; }
  } narrow_plan_, wide_plan_;
  LoadedModules modules_{codegen::kKernelName};
};

}  // namespace spdnn::cuda
