// Compiling the candidate modules of many layers ahead of time, on a pool of threads, without a GPU (see
// precompile_sparse_linears in include/spdnn/sparse/sparse_linear.hpp and precompile_sparse_conv2ds in
// sparse_conv2d.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "sparse/codegen/emit_conv2d.hpp"
#include "sparse/codegen/module_store.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

namespace {

// One module to compile: a configuration of a layer's store, for size n.
struct Task {
  codegen::ModuleStore* store;
  size_t layer;
  KernelConfig config;
  int64_t n;
  int64_t nnz;  // the layer's, for the order
};

void check_precompile_options(const SparseLinearOptions& options) {
  if (options.cache != KernelCacheMode::on)
    throw Error(Errc::usage, "precompiling kernels needs the kernel cache in mode 'on'");
}

// Adds the tasks of `configs` for size n that `keys` does not hold yet (a module serving several sizes
// is compiled once).
void add_tasks(std::vector<Task>* tasks, std::vector<std::string>* keys, codegen::ModuleStore* store, size_t layer,
               const std::vector<KernelConfig>& configs, int64_t n, int64_t nnz) {
  for (const KernelConfig& c : configs) {
    std::string key = store->key(c, n);
    if (std::find(keys->begin(), keys->end(), key) != keys->end()) continue;
    keys->push_back(std::move(key));
    tasks->push_back({store, layer, c, n, nnz});
  }
}

// Compiles the tasks on `jobs` threads (0: all cores), largest layers first; each layer's seconds.
std::vector<double> run_tasks(std::vector<Task> tasks, size_t layers, unsigned jobs,
                              const std::function<void(size_t, size_t)>& progress) {
  // Largest matrices first, so that the longest compiles do not start last.
  std::stable_sort(tasks.begin(), tasks.end(), [](const Task& a, const Task& b) { return a.nnz > b.nnz; });
  std::vector<double> seconds(layers, 0.0);
  if (progress && !tasks.empty()) progress(0, tasks.size());  // the largest module can take minutes
  std::atomic<size_t> next{0};
  size_t done = 0;
  std::mutex mutex;
  auto work = [&] {
    for (size_t k = next++; k < tasks.size(); k = next++) {
      const Task& t = tasks[k];
      const auto start = std::chrono::steady_clock::now();
      if (!t.store->cached(t.config, t.n)) {
        try {
          (void)t.store->obtain(t.config, t.n);
        } catch (const Error&) {
          // Left for the layer itself, which falls back to the generic kernel and reports the reason.
        }
      }
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::lock_guard lock(mutex);
      seconds[t.layer] += s;
      ++done;
      if (progress) progress(done, tasks.size());
    }
  };
  const unsigned threads = jobs > 0 ? jobs : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < std::min<size_t>(threads, tasks.size()); ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  return seconds;
}

const std::vector<float> kNoBias;

// What a layer's first prepare() compiles from its candidates: a fixed configuration alone, else every
// candidate when it tunes, else the first (the one it takes untuned).
std::vector<KernelConfig> to_compile(const SparseLinearOptions& options, std::vector<KernelConfig> candidates) {
  if (options.config) return {*options.config};
  if (!options.tune && !candidates.empty()) candidates.resize(1);
  return candidates;
}

// The same for a linear layer at N = n, which untuned takes the generic kernel below kUntunedGenericBelowN
// columns (and then compiles nothing).
std::vector<KernelConfig> linear_to_compile(const SparseLinearOptions& options, const CsrMatrix& w, int64_t n, int arch) {
  if (!options.config && !options.tune && n < kUntunedGenericBelowN) return {};
  return to_compile(options, sparse_linear_candidates(w, n, arch, options.fixed_stride));
}

}  // namespace

std::vector<double> precompile_sparse_linears(const std::vector<PrecompileLayer>& layers, int arch,
                                              const SparseLinearOptions& options, unsigned jobs,
                                              const std::function<void(size_t, size_t)>& progress) {
  check_precompile_options(options);
  if (options.config) validate(*options.config);  // the caller's error, not a fallback
  std::vector<std::unique_ptr<codegen::ModuleStore>> stores;
  std::vector<Task> tasks;
  for (size_t i = 0; i < layers.size(); ++i) {
    const CsrMatrix& w = *layers[i].w;
    stores.push_back(std::make_unique<codegen::ModuleStore>(w, layers[i].bias ? *layers[i].bias : kNoBias, options, arch));
    if (!options.specialize || w.nnz() > options.max_unrolled_nnz) continue;  // the generic kernel's
    std::vector<std::string> keys;
    for (int64_t n : layers[i].ns)
      if (n > 0)
        add_tasks(&tasks, &keys, stores.back().get(), i,
                  linear_to_compile(options, w, n, arch), n,
                  w.nnz());
  }
  return run_tasks(std::move(tasks), layers.size(), jobs, progress);
}

std::vector<double> precompile_sparse_conv2ds(const std::vector<PrecompileConv2d>& layers, int arch,
                                              const SparseLinearOptions& options, unsigned jobs,
                                              const std::function<void(size_t, size_t)>& progress) {
  check_precompile_options(options);
  std::vector<std::unique_ptr<codegen::ModuleStore>> stores;
  std::vector<Task> tasks;
  for (size_t i = 0; i < layers.size(); ++i) {
    const CsrMatrix& w = *layers[i].w;
    const std::vector<float>& bias = layers[i].bias ? *layers[i].bias : kNoBias;
    std::vector<std::string> keys;  // shapes that differ in batch only share their modules
    for (const Conv2dShape& s : layers[i].shapes) {
      codegen::checked_conv2d_filter(w, bias, s, options.config);  // the caller's errors, not fallbacks
      if (auto why = why_invalid(s)) throw Error(Errc::usage, fmt::format("conv2d {}: {}", to_string(s), *why));
      if (!options.specialize || w.nnz() > options.max_unrolled_nnz) continue;  // the generic kernel's
      stores.push_back(std::make_unique<codegen::ModuleStore>(w, bias, options, arch, s));
      add_tasks(&tasks, &keys, stores.back().get(), i,
                to_compile(options, sparse_conv2d_candidates(w, s, arch)), 1, w.nnz());
    }
  }
  return run_tasks(std::move(tasks), layers.size(), jobs, progress);
}

size_t precompile_layers(const std::vector<LayerSizes>& layers, unsigned jobs,
                         const std::function<void(size_t, size_t)>& progress) {
  if (layers.empty()) return 0;  // (layers exist only where a GPU does: its architecture is asked below)
  const int arch = current_gpu_arch();
  std::vector<std::unique_ptr<codegen::ModuleStore>> stores;
  std::vector<Task> tasks;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSizes& l = layers[i];
    if ((l.linear == nullptr) == (l.conv == nullptr))
      throw Error(Errc::usage, "precompile_layers: each entry names one linear layer or one convolution");
    const SparseLinearOptions& options = l.linear ? l.linear->options() : l.conv->options();
    const CsrMatrix& w = l.linear ? l.linear->weights() : l.conv->weights();
    const std::vector<float>& bias = l.linear ? l.linear->bias() : l.conv->bias();
    if (options.cache != KernelCacheMode::on || !options.specialize || w.nnz() > options.max_unrolled_nnz) continue;
    std::vector<std::string> keys;
    codegen::ModuleStore* linear_store = nullptr;  // a linear layer's modules, for every N
    if (l.linear) linear_store = stores.emplace_back(std::make_unique<codegen::ModuleStore>(w, bias, options, arch)).get();
    for (const auto& size : l.sizes) {
      if (l.linear) {
        const int64_t n = size[0];
        if (n <= 0) throw Error(Errc::usage, fmt::format("precompile_layers: N = {} columns", n));
        add_tasks(&tasks, &keys, linear_store, i,
                  linear_to_compile(options, w, n, arch), n,
                  w.nnz());
      } else {
        const Conv2dShape s = l.conv->shape(size[0], size[1], size[2]);
        stores.push_back(std::make_unique<codegen::ModuleStore>(w, bias, options, arch, s));
        add_tasks(&tasks, &keys, stores.back().get(), i,
                  to_compile(options, sparse_conv2d_candidates(w, s, arch)), 1, w.nnz());
      }
    }
  }
  size_t compiled = 0;
  std::vector<Task> todo;
  for (const Task& t : tasks)
    if (!t.store->cached(t.config, t.n)) todo.push_back(t), ++compiled;
  run_tasks(std::move(todo), layers.size(), jobs, progress);
  return compiled;
}

}  // namespace spdnn
