// The device side of one sparse linear layer: W in CSR for the generic kernel, the generated modules
// loaded so far, and the launch of either for a call.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cuda/device_buffer.hpp"
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

// Loads `cubin` on the current device (`device`, whose opt-in shared memory a kernel with split K
// partial sums may use) and finds its kernel `name`. Throws Error when the module does not load.
LoadedModule load_module(const std::vector<char>& cubin, const char* name, const KernelConfig& config, int64_t stride,
                         const cudaDeviceProp& prop, int device);
// Unloads the modules of `modules` (destructors of the launchers that own them).
void unload_modules(std::map<std::string, LoadedModule>& modules);

class Launcher {
 public:
  // Copies W (and its generic-kernel plans) and the bias to the current device.
  Launcher(const CsrMatrix& w, const std::vector<float>& bias, bool relu, bool dependent_launch);
  ~Launcher();
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // The module stored under `key`, if loaded; else loads `cubin` under it. Throws Error on load failure.
  const LoadedModule* find(const std::string& key) const;
  const LoadedModule& load(const std::string& key, const KernelConfig& config, int64_t stride, const std::vector<char>& cubin);

  // y (M x n) = act(W x + b) on `stream`, asynchronously.
  void launch(const Choice& c, const float* x, float* y, int64_t n, cudaStream_t stream) const;

 private:
  GenericView view() const;

  int64_t rows_, cols_;
  bool relu_, dependent_launch_, has_bias_;
  int device_ = 0;
  cudaDeviceProp prop_{};
  DeviceBuffer<int64_t> row_ptr_;
  DeviceBuffer<int32_t> col_idx_;
  DeviceBuffer<float> values_, bias_;
  struct DevicePlan {  // a work plan of the generic kernel, on the device
    DeviceBuffer<GenericPiece> slots;
    int64_t blocks = 0;
    GenericPlanView view() const { return {slots.get(), blocks}; }
  } narrow_plan_, wide_plan_;
  std::map<std::string, LoadedModule> modules_;
};

}  // namespace spdnn::cuda
