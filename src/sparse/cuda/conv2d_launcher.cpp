// The device side of one sparse convolution (see conv2d_launcher.hpp).
#include "sparse/cuda/conv2d_launcher.hpp"

#include <algorithm>

#include "cuda/check.hpp"
#include "cuda/dependent_launch.hpp"
#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_conv2d.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

Conv2dLauncher::Conv2dLauncher(const CsrMatrix& w, const std::vector<float>& bias, const Conv2dShape& filter, bool relu,
                               bool dependent_launch)
    : out_channels_(w.rows), relu_(relu), dependent_launch_(dependent_launch), has_bias_(!bias.empty()) {
  row_ptr_.upload(w.row_ptr, "sparse filter (row offsets)");
  taps_.upload(filter_taps(w, filter), "sparse filter (taps)");
  values_.upload(w.values, "sparse filter (values)");
  bias_.upload(bias, "bias");
}

void Conv2dLauncher::reserve_zeros(const Conv2dShape& shape) {
  const auto floats = static_cast<size_t>(codegen::conv2d_zeros(shape));
  if (!zeros_.empty() && zeros_.back().size() >= floats) return;
  zeros_.emplace_back(floats, "sparse conv2d zero padding");
  SPDNN_CUDA_CHECK(cudaMemset(zeros_.back().get(), 0, floats * sizeof(float)));
}

dim3 Conv2dLauncher::grid(const KernelConfig& s, const Conv2dShape& shape) const {
  const int64_t items = codegen::conv2d_thread_items(shape, s);  // B output pixels each
  // The kernel walks the items with a grid-stride loop, so the grid may stop short of covering them; a
  // block covers `lanes` items (all its threads, or one set of them where K is split).
  const int64_t lanes = codegen::lanes(s);
  return dim3(static_cast<unsigned>(std::min<int64_t>((items + lanes - 1) / lanes, int64_t{1} << 30)),
              static_cast<unsigned>(codegen::grid_rows(s, out_channels_)));
}

void Conv2dLauncher::launch(const Choice& c, const Conv2dShape& shape, const float* x, float* y, cudaStream_t stream) const {
  if (c.module == nullptr) {
    const GenericConv2dView view{row_ptr_.get(), taps_.get(), values_.get()};
    SPDNN_CUDA_CHECK(launch_generic_sparse_conv2d(view, shape, has_bias_ ? bias_.get() : nullptr, relu_, x, y,
                                                  dependent_launch_, stream));
    SPDNN_CUDA_SYNC_IF_DEBUG("generic sparse_conv2d kernel");
    return;
  }
  const KernelConfig s = config_of(c);
  cudaLaunchConfig_t config{};
  config.gridDim = grid(s, shape);
  if (config.gridDim.x == 0) return;
  config.blockDim = dim3(static_cast<unsigned>(s.threads));
  config.dynamicSmemBytes = static_cast<size_t>(codegen::shared_bytes(s));
  config.stream = stream;
  cudaLaunchAttribute attributes[2] = {dependent_launch_attribute(dependent_launch_)};
  config.attrs = attributes;
  config.numAttrs = 1;
  add_cluster_attribute(config, s);
  if (zeros_.empty() || zeros_.back().size() < static_cast<size_t>(codegen::conv2d_zeros(shape)))
    throw Error(Errc::usage, "sparse conv2d: launched for " + to_string(shape) + " before its zero padding was reserved");
  unsigned images = static_cast<unsigned>(shape.batch);
  const float* zeros = zeros_.back().get();
  void* args[] = {const_cast<float**>(&x), &y, &images, const_cast<float**>(&zeros)};
  SPDNN_CUDA_CHECK(cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(c.module->kernel), args));
  SPDNN_CUDA_SYNC_IF_DEBUG("generated sparse_conv2d kernel");
}

}  // namespace spdnn::cuda
