// File-format throughput: TSV parsing (plain and gzip) and binary-cache loading, in bytes/s of file.
// Data is generated once into a temporary folder: a 65536-neuron layer (2M lines, the size of one
// layer of the largest challenge network), an images file, and a 16-layer network cache.
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fmt/format.h>

#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"

namespace fs = std::filesystem;
using namespace spdnn;

namespace {

struct BenchData {
  fs::path dir = fs::temp_directory_path() / "spdnn-io-bench";
  fs::path layer = dir / "n65536-l1.tsv", layer_gz = dir / "n65536-l1.tsv.gz";
  fs::path images = dir / "sparse-images-4096.tsv", cache = dir / "net.spdnn", fcache = dir / "x.spdnn";
  BenchData() {
    fs::create_directories(dir);
    Network net = random_network({.neurons = 65536, .layers = 16, .per_row = 32, .seed = 1});
    io::write_layer_tsv(layer, net.layers[0]);
    io::write_layer_tsv(layer_gz, net.layers[0]);
    io::save_network_cache(cache, net);
    Features x = random_features(20000, 4096, 0.1, 2);
    io::write_images_tsv(images, x);
    io::save_features_cache(fcache, x);
  }
  ~BenchData() { fs::remove_all(dir); }
};

BenchData& data() {
  static BenchData d;
  return d;
}

template <class F>
void run(benchmark::State& state, const fs::path& file, F load) {
  const auto bytes = static_cast<int64_t>(fs::file_size(file));
  for (auto _ : state) benchmark::DoNotOptimize(load());
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["file_MB"] = static_cast<double>(bytes) / 1e6;
}

void BM_LayerTsv(benchmark::State& s) { run(s, data().layer, [] { return io::read_layer_tsv(data().layer, 65536); }); }
void BM_LayerTsvGzip(benchmark::State& s) {
  // bytes/s of the compressed file; the counter says how much text that is
  run(s, data().layer_gz, [] { return io::read_layer_tsv(data().layer_gz, 65536); });
  s.counters["text_MB_per_s"] = benchmark::Counter(static_cast<double>(fs::file_size(data().layer)) * s.iterations() / 1e6,
                                                  benchmark::Counter::kIsRate);
}
void BM_ImagesTsv(benchmark::State& s) { run(s, data().images, [] { return io::read_images_tsv(data().images, 4096); }); }
void BM_NetworkCache(benchmark::State& s) { run(s, data().cache, [] { return io::load_network_cache(data().cache); }); }
void BM_FeaturesCache(benchmark::State& s) { run(s, data().fcache, [] { return io::load_features_cache(data().fcache); }); }

}  // namespace

BENCHMARK(BM_LayerTsv)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_LayerTsvGzip)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ImagesTsv)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_NetworkCache)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FeaturesCache)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_MAIN();
