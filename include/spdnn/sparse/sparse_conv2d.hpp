// Sparse convolutions of pruned DL models on the GPU: Y = act(conv(X, W) + b) as torch.nn.Conv2d computes it
// (groups = 1), NCHW float32 in and out, with a kernel generated for this filter and each input shape
// (SparseRT-style: the filter's pattern and values compiled in, no im2col buffer), falling back to a generic
// direct kernel over the filter's CSR with a stated reason. Kernels are cached, tuned and remembered as
// SparseLinear's are, and take its options; 1x1 convolutions go through the same operator.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

// A sparse convolution on the GPU. `filter` gives the geometry that torch.nn.Conv2d fixes at construction
// (channels, out_channels = W's rows, kernel size, stride, padding, dilation); its batch, height and width
// are unused, since each call names its input size, and a kernel is chosen per size (generated, compiled
// or loaded, tuned) on its first use. Of the options, fixed_stride is unused (a convolution's whole shape is compiled in), and a
// fixed `config` must be one the convolution emitter can produce (cols 1, no K splits or row groups per
// block). Throws Error(usage/mismatch) for a bad geometry, filter or bias, Error(unsupported) in builds
// without CUDA or without a GPU, Error(device/out_of_memory) for GPU failures.
class SparseConv2d {
 public:
  SparseConv2d(CsrMatrix w, std::vector<float> bias, Conv2dShape filter, SparseLinearOptions options = {});
  ~SparseConv2d();
  SparseConv2d(SparseConv2d&&) noexcept;
  SparseConv2d& operator=(SparseConv2d&&) noexcept;

  // The filter's geometry, as given (batch 1, on the smallest input it fits).
  const Conv2dShape& filter() const;
  const CsrMatrix& weights() const;  // K x C*R*S
  const std::vector<float>& bias() const;
  const SparseLinearOptions& options() const;
  // The whole shape of a call on a batch x channels x height x width input.
  Conv2dShape shape(int64_t batch, int64_t height, int64_t width) const;
  void prepare(int64_t batch, int64_t height, int64_t width);
  // y (N x K x P x Q) = act(conv(x, W) + b) for device pointers x (N x C x H x W); `stream` is a
  // cudaStream_t (nullptr: default). Asynchronous, and capturable into a CUDA graph once prepared for the
  // size: a first call for a size inside a capture throws Error(usage) and leaves the capture intact.
  void forward(const float* x, float* y, int64_t batch, int64_t height, int64_t width, void* stream = nullptr);
  // The generic kernel alone (the fallback; also a benchmark baseline).
  void forward_generic(const float* x, float* y, int64_t batch, int64_t height, int64_t width, void* stream = nullptr) const;
  // Convenience for host data: copies x to the device, runs forward() (or the generic kernel), returns y.
  std::vector<float> forward_host(const std::vector<float>& x, int64_t batch, int64_t height, int64_t width,
                                  bool generic = false);
  const SparseLinearReport& report() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Compiles, without a GPU, the candidate kernels that SparseConv2d would try on a GPU of compute capability
// `arch` (or only options.config) into the cache of `options` (whose mode must be on), as
// precompile_sparse_linears does for linear layers: for each layer every shape of `shapes` (the filter's
// geometry with an input size; the batch does not matter, one module serves every batch). Returns each
// layer's compile seconds. A bad shape or filter, or a fixed config the emitter cannot produce, is an
// Error; a candidate that fails to compile is left for the layer, which falls back with the reason.
struct PrecompileConv2d {
  const CsrMatrix* w = nullptr;
  const std::vector<float>* bias = nullptr;  // null: no bias
  std::vector<Conv2dShape> shapes;
};
std::vector<double> precompile_sparse_conv2ds(const std::vector<PrecompileConv2d>& layers, int arch,
                                              const SparseLinearOptions& options, unsigned jobs = 0,
                                              const std::function<void(size_t, size_t)>& progress = {});

// Compiles on a pool of threads (`jobs`, 0: all cores) every module that the first prepare() of these
// layers for these sizes would compile, each layer with its own options, so that those calls only load
// and tune: a model's layers compile together instead of one after another. A linear layer's sizes are
// column counts N (size[0]); a convolution's are (batch, height, width). Returns the modules compiled
// (cached ones are skipped); `progress` gets (0, in all) before the first and (done, in all) after each.
struct LayerSizes {
  const SparseLinear* linear = nullptr;  // one of the two
  const SparseConv2d* conv = nullptr;
  std::vector<std::array<int64_t, 3>> sizes;
};
size_t precompile_layers(const std::vector<LayerSizes>& layers, unsigned jobs = 0,
                         const std::function<void(size_t, size_t)>& progress = {});

// The kernel configurations (block widths aside) that SparseConv2d compiles and times for filter w on an
// input of `shape` on a GPU of compute capability `arch`, best guess first; each is one module. Plain
// C++ (src/sparse/candidates.cpp).
std::vector<KernelConfig> sparse_conv2d_candidates(const CsrMatrix& w, const Conv2dShape& shape, int arch);

}  // namespace spdnn
