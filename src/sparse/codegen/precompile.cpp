// Compiling the candidate modules of many layers ahead of time, on a pool of threads, without a GPU (see
// precompile_sparse_linears in include/spdnn/sparse/sparse_linear.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "sparse/codegen/module_store.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

std::vector<double> precompile_sparse_linears(const std::vector<PrecompileLayer>& layers, int arch,
                                              const SparseLinearOptions& options, unsigned jobs,
                                              const std::function<void(size_t, size_t)>& progress) {
  if (options.cache != KernelCacheMode::on)
    throw Error(Errc::usage, "precompiling kernels needs the kernel cache in mode 'on'");
  if (options.config) validate(*options.config);  // the caller's error, not a fallback
  static const std::vector<float> no_bias;
  std::vector<std::unique_ptr<codegen::ModuleStore>> stores;
  struct Task {
    size_t layer;
    KernelConfig config;
    int64_t n;
  };
  std::vector<Task> tasks;
  for (size_t i = 0; i < layers.size(); ++i) {
    const CsrMatrix& w = *layers[i].w;
    stores.push_back(std::make_unique<codegen::ModuleStore>(w, layers[i].bias ? *layers[i].bias : no_bias, options, arch));
    if (!options.specialize || w.nnz() > options.max_unrolled_nnz) continue;  // the generic kernel's
    std::vector<std::string> keys;  // a module without N compiled in serves every N: compiled once
    for (int64_t n : layers[i].ns) {
      if (n <= 0) continue;
      for (const KernelConfig& c : options.config ? std::vector{*options.config}
                                                  : sparse_linear_candidates(w, n, arch, options.fixed_stride)) {
        std::string key = stores[i]->key(c, n);
        if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
        keys.push_back(std::move(key));
        tasks.push_back({i, c, n});
      }
    }
  }
  // Largest matrices first, so that the longest compiles do not start last.
  std::stable_sort(tasks.begin(), tasks.end(),
                   [&](const Task& a, const Task& b) { return layers[a.layer].w->nnz() > layers[b.layer].w->nnz(); });
  std::vector<double> seconds(layers.size(), 0.0);
  std::atomic<size_t> next{0};
  size_t done = 0;
  std::mutex mutex;
  auto work = [&] {
    for (size_t k = next++; k < tasks.size(); k = next++) {
      const Task& t = tasks[k];
      const auto start = std::chrono::steady_clock::now();
      if (!stores[t.layer]->cached(t.config, t.n)) {
        try {
          (void)stores[t.layer]->obtain(t.config, t.n);
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

}  // namespace spdnn
