// Tuning of a sparse linear layer (see tuner.hpp).
#include "sparse/cuda/tuner.hpp"

#include <fmt/format.h>

#include <memory>

#include "cuda/check.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/stream.hpp"
#include "sparse/codegen/emit.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

namespace {

// Each candidate is timed as CUDA-graph replays, kTuningRounds of them interleaved, and scored by their
// mean. Replays leave out the host's launch cost, which for small layers varied more than the candidates
// differ (256 x 64 at 95%, N = 3136: 3.3-5.4 us back to back, 2.7-3.0 in a graph). The mean, not the
// best, because a kernel's time can change within a process: 128 x 512 at 90%, N = 784, 32 rows per
// group took 9.4 us in one round and 6.6 in the next (9.2 whenever it ran alone), and the best of three
// rounds picked it over a steady 5.6 us kernel (bench/results/sparse_explore_h100.md, item 15).
constexpr int kTuningRounds = 5;
constexpr int kCallsPerTiming = 20;

// A choice's calls captured into a graph, after one direct call. A cluster launch the device refuses
// (cudaErrorClusterOutOfResources and the like: the GPU is shared, or partitioned) fails that call and
// drops the choice with a note instead of failing the layer; errors that persist are rethrown.
std::unique_ptr<CapturedCalls> capture(const ChoiceLaunch& launch, const Choice& c, const float* x, float* y,
                                       cudaStream_t stream, std::vector<std::string>* notes) {
  auto enqueue = [&launch, c, x, y](cudaStream_t s) { launch(c, x, y, s); };
  const bool cluster = c.module != nullptr && c.module->config.cluster_slices > 1;
  try {
    enqueue(stream);
    if (cluster) SPDNN_CUDA_CHECK(cudaStreamSynchronize(stream));  // a refused launch fails here
    return std::make_unique<CapturedCalls>(enqueue, stream, kCallsPerTiming);
  } catch (const Error& e) {
    if (!cluster || cudaDeviceSynchronize() != cudaSuccess) throw;
    (void)cudaGetLastError();
    notes->push_back(fmt::format("a split-K candidate ({} K slices, {} threads) could not be launched: {}",
                                 c.module->config.cluster_slices, c.threads, e.what()));
    return nullptr;
  }
}

}  // namespace

std::vector<Choice> tuning_choices(const std::vector<const LoadedModule*>& modules, int64_t n, bool with_generic) {
  std::vector<Choice> choices;
  for (const LoadedModule* m : modules)
    for (int threads : {64, 128, 256, 512, 1024}) {
      if (threads > m->config.bound) break;
      const int lanes = threads / thread_sets(m->config);  // the block's columns, over cols
      if (lanes % 32 != 0) continue;
      if (threads > 64 && static_cast<int64_t>(lanes) * m->config.cols >= 2 * n) continue;  // idle lanes
      choices.push_back(Choice{m, threads});
    }
  if (with_generic) choices.push_back(Choice{});
  return choices;
}

std::vector<std::optional<double>> time_choices(const ChoiceLaunch& launch, const std::vector<Choice>& choices,
                                                size_t x_size, size_t y_size, std::vector<std::string>* notes) {
  DeviceBuffer<float> x(x_size, "tuning input");
  DeviceBuffer<float> y(y_size, "tuning output");
  if (x.size() != 0) SPDNN_CUDA_CHECK(cudaMemset(x.get(), 0, x.size() * sizeof(float)));
  Stream stream;
  std::vector<std::unique_ptr<CapturedCalls>> timers;
  for (const Choice& c : choices) timers.push_back(capture(launch, c, x.get(), y.get(), stream.s, notes));
  std::vector<std::optional<double>> us(choices.size());
  for (int round = 0; round < kTuningRounds; ++round)
    for (size_t i = 0; i < choices.size(); ++i)
      if (timers[i]) {
        if (round == 0) timers[i]->replay();  // warm up
        us[i] = us[i].value_or(0.0) + timers[i]->time_us() / kTuningRounds;
      }
  timers.clear();
  SPDNN_CUDA_CHECK(cudaDeviceSynchronize());
  return us;
}

}  // namespace spdnn::cuda
