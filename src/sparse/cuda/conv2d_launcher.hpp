// The device side of one sparse convolution: the filter for the generic kernel, the generated modules
// loaded so far (each for one input shape), and the launch of either for a call. The convolution's
// counterpart of launcher.hpp, sharing its module type and loading.
#pragma once

#include <cuda_runtime.h>

#include <map>
#include <string>
#include <vector>

#include "cuda/device_buffer.hpp"
#include "sparse/cuda/generic_conv2d_kernel.hpp"
#include "sparse/cuda/launcher.hpp"
#include "sparse/codegen/emit_conv2d.hpp"
#include "spdnn/csr.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/kernel_config.hpp"

namespace spdnn::cuda {

class Conv2dLauncher {
 public:
  // Copies the filter (K x C*R*S of `filter`'s geometry), its decoded taps and the bias to the current device.
  Conv2dLauncher(const CsrMatrix& w, const std::vector<float>& bias, const Conv2dShape& filter, bool relu,
                 bool dependent_launch);
  Conv2dLauncher(const Conv2dLauncher&) = delete;
  Conv2dLauncher& operator=(const Conv2dLauncher&) = delete;

  LoadedModules& modules() { return modules_; }

  // Makes the zero-filled buffer the generated kernels read in the padding large enough for `shape`
  // (codegen::conv2d_zeros), before launch() is called for it (not while a stream is being captured). A
  // smaller buffer stays allocated: graphs captured before may launch with it.
  void reserve_zeros(const Conv2dShape& shape);

  // The grid of a generated kernel of `config` for `shape` (none where the output is empty).
  dim3 grid(const KernelConfig& config, const Conv2dShape& shape) const;

  // y = act(conv(x, W) + b) for x and y NCHW of `shape` (a module must have been compiled for it), on
  // `stream`, asynchronously.
  void launch(const Choice& c, const Conv2dShape& shape, const float* x, float* y, cudaStream_t stream) const;

 private:
  int64_t out_channels_;
  bool relu_, dependent_launch_, has_bias_;
  DeviceBuffer<int64_t> row_ptr_;
  DeviceBuffer<FilterTap> taps_;
  DeviceBuffer<float> values_, bias_;
  std::vector<DeviceBuffer<float>> zeros_;  // the last the largest; earlier ones kept for graphs captured with them
  LoadedModules modules_{codegen::kConv2dKernelName};
};

}  // namespace spdnn::cuda
