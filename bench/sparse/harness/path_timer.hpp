// How the pruned-layer benchmarks check and time a path (sparse_bench.cpp: linear layers; conv_bench.cpp:
// convolutions): a path is a callable that enqueues one call on a stream, timed in rounds of `calls`
// back-to-back calls and as one replay of a CUDA graph of them; the median round is reported.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda/check.hpp"
#include "cuda/stream.hpp"
#include "harness/sparse_bench.hpp"
#include "spdnn/error.hpp"

namespace spdnn::bench {

using Enqueue = std::function<void(cudaStream_t)>;

// The benchmarks' X: `count` values uniform in [-1, 1) in steps of 1/1024 (seeded), exact in fp16, so that
// the fp16 paths differ from float64 only by their rounding of products and weights.
inline std::vector<float> fp16_exact_values(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> step(-1024, 1023);
  std::vector<float> x(count);
  for (auto& v : x) v = static_cast<float>(step(rng)) / 1024.0f;
  return x;
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

class PathTimer {
 public:
  PathTimer(const Enqueue& enqueue, cudaStream_t stream, int calls)
      : enqueue_(enqueue), stream_(stream), calls_(calls), graph_(enqueue, stream, calls) {}

  // One round: a few warm-up calls, `calls` back to back, then a warm-up replay and a timed one.
  void round() {
    for (int c = 0; c < 5; ++c) enqueue_(stream_);  // warm up (clocks, caches)
    SPDNN_CUDA_CHECK(cudaEventRecord(start_.e, stream_));
    for (int c = 0; c < calls_; ++c) enqueue_(stream_);
    SPDNN_CUDA_CHECK(cudaEventRecord(stop_.e, stream_));
    plain_.push_back(cuda::microseconds_per_call(start_.e, stop_.e, calls_));
    graph_.replay();  // warm up
    graph_times_.push_back(graph_.time_us());
  }
  double plain_us() const { return median(plain_); }
  double graph_us() const { return median(graph_times_); }

 private:
  Enqueue enqueue_;
  cudaStream_t stream_;
  int calls_;
  cuda::CapturedCalls graph_;
  cuda::Event start_{cudaEventDefault}, stop_{cudaEventDefault};
  std::vector<double> plain_, graph_times_;
};

// One path timed alone (`rounds` rounds of `calls`), as `name`.
inline SparseBenchTiming time_alone(const std::string& name, const Enqueue& enqueue, cudaStream_t stream, int rounds, int calls) {
  PathTimer timer(enqueue, stream, calls);
  for (int r = 0; r < rounds; ++r) timer.round();
  SparseBenchTiming t;
  t.path = name;
  t.plain_us = timer.plain_us();
  t.graph_us = timer.graph_us();
  return t;
}

// A path of a benchmark: how to enqueue one call, and how to read its output back as floats in the
// reference's order.
struct TimedPath {
  std::string name;
  Enqueue enqueue;
  std::function<std::vector<float>()> output;
  std::string note;  // what the path chose, for the report
};

// Checks each path's output once against `ref` (max relative error), then times every path in `rounds`
// interleaved rounds of `calls` calls, back to back and as a CUDA graph. A path that fails there (a
// library call that cannot be captured into a graph) is reported with its error and the others timed;
// usage errors are rethrown. Timings in path order, failed paths last.
inline std::vector<SparseBenchTiming> verify_and_time(const std::vector<TimedPath>& paths, const std::vector<double>& ref,
                                                      cudaStream_t stream, int rounds, int calls) {
  std::vector<SparseBenchTiming> timings, failed;
  std::vector<std::unique_ptr<PathTimer>> timers;
  for (const TimedPath& p : paths) {
    try {
      p.enqueue(stream);
      SPDNN_CUDA_CHECK(cudaStreamSynchronize(stream));
      const double error = max_relative_error(p.output(), ref);
      timers.push_back(std::make_unique<PathTimer>(p.enqueue, stream, calls));
      timings.push_back({p.name, 0, 0, error, {}, p.note});
    } catch (const Error& e) {
      if (e.code() == Errc::usage) throw;
      (void)cudaGetLastError();
      failed.push_back({p.name, 0, 0, 0, e.what(), p.note});
    }
  }
  for (int round = 0; round < rounds; ++round)
    for (auto& timer : timers) timer->round();
  for (size_t i = 0; i < timers.size(); ++i) {
    timings[i].plain_us = timers[i]->plain_us();
    timings[i].graph_us = timers[i]->graph_us();
  }
  timings.insert(timings.end(), failed.begin(), failed.end());
  return timings;
}

}  // namespace spdnn::bench
