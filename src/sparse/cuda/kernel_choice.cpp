// The shared steps of getting a generated kernel (see kernel_choice.hpp).
#include "sparse/cuda/kernel_choice.hpp"

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <utility>

#include "cuda/check.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// How tuning times its candidates, hashed into the key of a remembered choice so that choices made the
// old way are made again: 1 (up to 0.4.0) the best of three rounds of back-to-back calls, 2 (0.4.1) the
// mean of five rounds of CUDA-graph replays.
constexpr uint64_t kTuningMethod = 2;

// The SMs of the current device, for untuned_threads.
int multiprocessors() {
  int device = 0, sms = 0;
  SPDNN_CUDA_CHECK(cudaGetDevice(&device));
  SPDNN_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

}  // namespace

std::string tuning_key(const codegen::ModuleStore& store, int64_t n, const SparseLinearOptions& options,
                       const std::vector<KernelConfig>& candidates, uint64_t generic_revision) {
  codegen::KeyHasher h;
  h.text(store.layer());
  h.value(static_cast<uint64_t>(n));
  h.value(static_cast<uint64_t>(store.arch()));
  h.text(store.compiler());
  h.text(SPDNN_VERSION);
  h.value(generic_revision);  // the generic kernel competes in tuning
  h.value(kTuningMethod);
  if (!options.dependent_launch) h.text("no dependent launch");  // timed as it will run
  for (const auto& c : candidates) h.text(store.key(c, n));
  return h.hex();
}

std::vector<const LoadedModule*> obtain_modules(codegen::ModuleStore& store, const ModuleSlots& slots,
                                                const std::vector<KernelConfig>& configs, int64_t n,
                                                SparseLinearReport* report, std::string* first_error) {
  std::vector<const LoadedModule*> loaded;
  struct Job {
    KernelConfig config;
    std::string key;
    std::future<codegen::ModuleStore::Built> built;
  };
  std::vector<Job> jobs;
  for (const auto& c : configs) {
    std::string key = store.key(c, n);
    if (const LoadedModule* m = slots.find(key)) {
      loaded.push_back(m);
      continue;
    }
    jobs.push_back({c, std::move(key), std::async(std::launch::async, [&store, c, n] { return store.obtain(c, n); })});
  }
  const auto wall = Clock::now();
  bool compiled_any = false;
  for (auto& job : jobs) {
    try {
      codegen::ModuleStore::Built b = job.built.get();
      if (!b.note.empty()) report->notes.push_back(b.note);
      if (b.from_cache) ++report->cache_hits;
      else ++report->modules_compiled, compiled_any = true, report->generate_seconds += b.generate_seconds;
      loaded.push_back(&slots.load(job.key, job.config, b.cubin));
    } catch (const Error& e) {
      if (first_error->empty()) *first_error = e.what();
    }
  }
  if (compiled_any) report->compile_seconds += seconds_since(wall);
  return loaded;
}

Timed time_candidates(const ChoiceLaunch& launch, const std::vector<Choice>& choices, size_t x_size, size_t y_size,
                      SparseLinearReport* report) {
  const auto t = Clock::now();
  const auto us = time_choices(launch, choices, x_size, y_size, &report->notes);
  Timed timed;
  report->tuning.clear();
  for (size_t i = 0; i < choices.size(); ++i) {
    if (!us[i]) continue;  // refused
    if (choices[i].module == nullptr) {
      timed.generic_us = *us[i];
      report->tuning.push_back({std::nullopt, *us[i]});
      continue;
    }
    report->tuning.push_back({config_of(choices[i]), *us[i]});
    if (!timed.best || *us[i] < timed.best_us) timed.best = choices[i], timed.best_us = *us[i];
  }
  report->tune_seconds += seconds_since(t);
  return timed;
}

void refuse_inside_capture(cudaStream_t stream, const std::string& what, const std::string& remedy) {
  cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
  if (cudaStreamIsCapturing(stream, &capturing) != cudaSuccess || capturing != cudaStreamCaptureStatusNone) {
    (void)cudaGetLastError();
    throw Error(Errc::usage, fmt::format("{}, which cannot happen inside a CUDA graph capture; call {} before capturing",
                                         what, remedy));
  }
}

Choice choose_kernel(const SparseLinearOptions& options, const KernelRequest& r, SparseLinearReport* report,
                     std::string* generic_reason) {
  std::vector<KernelConfig> configs = r.candidates;
  std::optional<KernelConfig> remembered;
  if (options.config) {
    remembered = *options.config;
    configs = {*options.config};
  } else if (auto t = r.store->cache().load_tuning(r.tuning_key); t && !t->config) {
    ++report->cache_hits;
    *generic_reason = fmt::format("the generic kernel was faster than the generated ones ({:.1f} us, remembered)",
                                  t->microseconds);
    return Choice{};
  } else if (t && r.n % t->config->cols == 0) {
    ++report->cache_hits;
    remembered = t->config;
    configs = {*t->config};
  } else if (!options.tune) {
    if (!r.untuned_generic.empty()) {
      *generic_reason = r.untuned_generic;
      return Choice{};
    }
    configs.resize(1);
  }
  refuse_inside_capture(r.stream, r.what, r.remedy);
  std::string error;
  const auto loaded = obtain_modules(*r.store, r.slots, configs, r.n, report, &error);
  if (loaded.empty()) {
    *generic_reason = fmt::format("code generation failed: {}", error.empty() ? "no candidate configuration" : error);
    return Choice{};
  }
  if (!error.empty()) report->notes.push_back("a candidate kernel failed: " + error);
  if (remembered) return Choice{loaded.front(), remembered->threads};
  if (!options.tune) {
    KernelConfig first = loaded.front()->config;
    first.threads = configs.front().threads;
    return Choice{loaded.front(), untuned_threads(first, multiprocessors(), [&](int threads) {
                    first.threads = threads;
                    const dim3 g = r.grid(first);
                    return int64_t{g.x} * g.y * g.z;
                  })};
  }

  const Timed timed = time_candidates(r.launch, tuning_choices(loaded, r.n, options.tune_against_generic), r.x_size,
                                      r.y_size, report);
  if (!timed.best) {
    *generic_reason = "no generated kernel could be launched on this device";
    return Choice{};
  }
  if (timed.generic_us && *timed.generic_us < timed.best_us) {
    r.store->cache().store_tuning(r.tuning_key, {std::nullopt, *timed.generic_us});
    *generic_reason = fmt::format("the generic kernel was faster than the generated ones ({:.1f} us vs {:.1f} us)",
                                  *timed.generic_us, timed.best_us);
    return Choice{};
  }
  r.store->cache().store_tuning(r.tuning_key, {config_of(*timed.best), timed.best_us});
  return *timed.best;
}

}  // namespace spdnn::cuda
