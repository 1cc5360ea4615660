// The device side of one sparse linear layer (see launcher.hpp).
#include "sparse/cuda/launcher.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "cuda/check.hpp"
#include "cuda/dependent_launch.hpp"
#include "sparse/codegen/emit.hpp"
#include "sparse/cuda/generic_plan.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

KernelConfig config_of(const Choice& c) {
  KernelConfig s = c.module->config;
  s.threads = c.threads;
  return s;
}

Launcher::Launcher(const CsrMatrix& w, const std::vector<float>& bias, bool relu, bool dependent_launch)
    : rows_(w.rows), cols_(w.cols), relu_(relu), dependent_launch_(dependent_launch), has_bias_(!bias.empty()) {
  row_ptr_.upload(w.row_ptr, "sparse weights (row offsets)");
  col_idx_.upload(w.col_idx, "sparse weights (column indices)");
  values_.upload(w.values, "sparse weights (values)");
  bias_.upload(bias, "bias");
  for (auto [plan, piece_nnz] : {std::pair{&narrow_plan_, kNarrowPieceNnz}, {&wide_plan_, kWidePieceNnz}}) {
    const GenericPlan host = plan_generic(w, kGenericWarps, piece_nnz);
    plan->blocks = host.blocks();
    plan->slots.upload(host.slots, "generic kernel plan");
  }
}

LoadedModules::LoadedModules(const char* kernel_name) : name_(kernel_name) {
  SPDNN_CUDA_CHECK(cudaGetDevice(&device_));
  SPDNN_CUDA_CHECK(cudaGetDeviceProperties(&prop_, device_));
}

LoadedModules::~LoadedModules() {
  for (auto& [_, m] : modules_)
    if (m.library != nullptr) cudaLibraryUnload(m.library);
}

const LoadedModule* LoadedModules::find(const std::string& key) const {
  auto it = modules_.find(key);
  return it == modules_.end() ? nullptr : &it->second;
}

const LoadedModule& LoadedModules::load(const std::string& key, const KernelConfig& config, int64_t stride,
                                        const std::vector<char>& cubin) {
  LoadedModule m;
  m.config = module_of(config);
  m.stride = stride;
  SPDNN_CUDA_CHECK(cudaLibraryLoadData(&m.library, cubin.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
  cudaError_t status = cudaLibraryGetKernel(&m.kernel, m.library, name_);
  if (status == cudaSuccess && codegen::shared_bytes(config) > 0)  // split K's partial sums
    status = cudaKernelSetAttributeForDevice(m.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(prop_.sharedMemPerBlockOptin), device_);
  if (status != cudaSuccess) {
    cudaLibraryUnload(m.library);
    check(status, "loading a generated kernel", __FILE__, __LINE__);
  }
  LoadedModule& slot = modules_[key];
  if (slot.library != nullptr) cudaLibraryUnload(slot.library);  // (a key is loaded once; never leak)
  return slot = m;
}

GenericView Launcher::view() const {
  return {row_ptr_.get(), col_idx_.get(), values_.get(), rows_, cols_, narrow_plan_.view(), wide_plan_.view()};
}

dim3 Launcher::grid(const KernelConfig& s, int64_t n) const {
  const int64_t columns_per_block = static_cast<int64_t>(codegen::lanes(s)) * s.cols;
  return dim3(static_cast<unsigned>((n + columns_per_block - 1) / columns_per_block),
              static_cast<unsigned>(codegen::grid_rows(s, rows_)));
}

void add_cluster_attribute(cudaLaunchConfig_t& config, const KernelConfig& s) {
  if (s.cluster_slices <= 1) return;
  cudaLaunchAttribute& cluster = config.attrs[config.numAttrs++];
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = 1;
  cluster.val.clusterDim.y = static_cast<unsigned>(s.cluster_slices);
  cluster.val.clusterDim.z = 1;
}

void Launcher::launch(const Choice& c, const float* x, float* y, int64_t n, cudaStream_t stream) const {
  if (c.module == nullptr) {
    SPDNN_CUDA_CHECK(launch_generic_sparse_linear(view(), has_bias_ ? bias_.get() : nullptr, relu_, x, y, n,
                                                  dependent_launch_, stream));
    SPDNN_CUDA_SYNC_IF_DEBUG("generic sparse_linear kernel");
    return;
  }
  const KernelConfig s = config_of(c);
  if (c.module->stride != 0 && c.module->stride != n)  // choices are made per N: reaching this is a bug in spdnn
    throw Error(Errc::usage, fmt::format("sparse linear: a module compiled for N = {} launched with N = {}", c.module->stride, n));
  cudaLaunchConfig_t config{};
  config.gridDim = grid(s, n);
  config.blockDim = dim3(static_cast<unsigned>(s.threads));
  config.dynamicSmemBytes = static_cast<size_t>(codegen::shared_bytes(s));
  config.stream = stream;
  cudaLaunchAttribute attributes[2] = {dependent_launch_attribute(dependent_launch_)};
  config.attrs = attributes;
  config.numAttrs = 1;
  add_cluster_attribute(config, s);
  long long n_arg = n;
  void* args[] = {const_cast<float**>(&x), &y, &n_arg};
  SPDNN_CUDA_CHECK(cudaLaunchKernelExC(&config, reinterpret_cast<const void*>(c.module->kernel), args));
  SPDNN_CUDA_SYNC_IF_DEBUG("generated sparse_linear kernel");
}

}  // namespace spdnn::cuda
