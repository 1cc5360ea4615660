// The steps by which a generated-kernel layer (SparseLinear, SparseConv2d) gets its kernel for one problem
// size, shared by both: its candidate modules loaded from the cache or compiled in parallel, loaded on the
// device, and timed against the generic kernel, each step recorded in the layer's report.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sparse/codegen/module_store.hpp"
#include "sparse/cuda/launcher.hpp"
#include "sparse/cuda/tuner.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::cuda {

// Where a layer keeps its loaded modules: the one under a key, if loaded, and the loading of a cubin.
struct ModuleSlots {
  std::function<const LoadedModule*(const std::string& key)> find;
  std::function<const LoadedModule&(const std::string& key, const KernelConfig& config, const std::vector<char>& cubin)> load;
};

// The modules of `configs` for size n (ModuleStore::key), loaded or compiled in parallel (NVRTC is
// thread-safe) and put on the device; compile and generate times, cache hits and notes go to `report`,
// the first failure to `first_error` (a candidate that fails is left out).
std::vector<const LoadedModule*> obtain_modules(codegen::ModuleStore& store, const ModuleSlots& slots,
                                                const std::vector<KernelConfig>& configs, int64_t n,
                                                SparseLinearReport* report, std::string* first_error);

// What timing found: the fastest generated choice (none where every one was refused) and the generic
// kernel's time (none where it was not timed). report->tuning lists every time, report->tune_seconds grows.
struct Timed {
  std::optional<Choice> best;
  double best_us = 0;
  std::optional<double> generic_us;
};
Timed time_candidates(const ChoiceLaunch& launch, const std::vector<Choice>& choices, size_t x_size, size_t y_size,
                      SparseLinearReport* report);

// Choosing a kernel loads modules, allocates, times and synchronizes: calls that a stream capture forbids,
// and that would invalidate the caller's graph. So a first call inside a capture is refused with
// Error(usage) "<what>, which cannot ..., call <remedy> before capturing", before any of them; the capture
// stays usable.
void refuse_inside_capture(cudaStream_t stream, const std::string& what, const std::string& remedy);

// The key of a remembered choice for size n: everything the timing depended on (the layer and its
// compiler, n, the GPU, spdnn's version, the generic kernel's revision, how tuning times, how calls are
// launched) and the candidates it was chosen among, so that a layer whose candidates change is tuned again
// instead of keeping a choice that never saw the new ones.
std::string tuning_key(const codegen::ModuleStore& store, int64_t n, const SparseLinearOptions& options,
                       const std::vector<KernelConfig>& candidates, uint64_t generic_revision);

// One size of a layer whose kernel is to be chosen.
struct KernelRequest {
  codegen::ModuleStore* store;
  ModuleSlots slots;
  ChoiceLaunch launch;
  std::function<dim3(const KernelConfig&)> grid;  // of a generated configuration, for the untuned block width
  std::vector<KernelConfig> candidates;  // best guess first
  std::string tuning_key;                // of the remembered choice: everything the timing depends on
  int64_t n;                             // ModuleStore's n, and the columns (pixels) that tuning covers
  size_t x_size, y_size;                 // floats of X and Y, for timing
  cudaStream_t stream;                   // the asking call's, which must not be capturing
  std::string what, remedy;              // for refuse_inside_capture
  std::string untuned_generic;           // not empty: without tuning, the generic kernel, for this reason
};

// The kernel for `request`, as `options` say: options.config if set; else a choice remembered in the
// cache; else the candidates (only the first without options.tune, none where the request names a reason
// for the generic kernel untuned) obtained, timed against the generic
// kernel and the winner remembered. Returns a choice whose module is null for the generic kernel, with
// the reason in `generic_reason`; `report` gets times, cache hits, notes and what tuning tried.
Choice choose_kernel(const SparseLinearOptions& options, const KernelRequest& request, SparseLinearReport* report,
                     std::string* generic_reason);

}  // namespace spdnn::cuda
