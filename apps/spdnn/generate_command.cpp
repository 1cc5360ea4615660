// `spdnn generate`: RadiX-Net networks and MNIST-derived inputs, in the official layout or as caches.
//   tsv: DIR/neuron{N}/n{N}-l{l}.tsv, DIR/sparse-images-{N}.tsv     (.tsv.gz with --gzip)
//   bin: DIR/neuron{N}-l{L}.spdnn,    DIR/sparse-images-{N}.spdnn
// Layers are generated and written one at a time, so networks larger than memory can be written.
#include <fmt/format.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <mutex>

#include "commands.hpp"
#include "input_images.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/generate.hpp"
#include "spdnn/challenge/io.hpp"
#include "terminal_progress.hpp"

namespace spdnn::app {

namespace fs = std::filesystem;

namespace {

struct GenerateOptions {
  int32_t neurons = 1024, layers = 120;
  uint64_t seed = 1;
  int64_t count = 60000;
  std::string out, mnist, format = "tsv", what = "all", network = "radixnet";
  bool gzip = false, quiet = false;
};

// Layer l (1-based) of the network asked for. RadiX-Net layers are made one at a time; a random network
// (the challenge's shape: 32 weights of 1/16 per row and column, without its structure) all at once.
class NetworkSource {
 public:
  explicit NetworkSource(const GenerateOptions& o) : spec_{o.neurons, o.layers, o.seed} {
    if (o.network == "random")
      random_ = random_network({.neurons = o.neurons, .layers = o.layers, .per_row = 32, .value = 1.0f / 16,
                                .bias = radixnet_bias(o.neurons), .seed = o.seed});
  }
  CsrMatrix layer(int32_t l) const { return random_.layers.empty() ? radixnet_layer(spec_, l) : random_.layers[l - 1]; }

 private:
  RadixNetSpec spec_;
  Network random_;
};

void write_network(const GenerateOptions& o, TerminalProgress& progress) {
  const NetworkSource source(o);
  const float bias = radixnet_bias(o.neurons);
  if (o.format == "bin") {
    fs::path file = fs::path(o.out) / fmt::format("neuron{}-l{}.spdnn", o.neurons, o.layers);
    io::NetworkCacheWriter w(file, o.neurons, std::vector<uint64_t>(o.layers, uint64_t{32} * o.neurons), bias);
    for (int32_t l = 1; l <= o.layers; ++l) {
      w.add_layer(source.layer(l));
      progress.update("writing layers", l, o.layers);
    }
    w.finish();
    progress.done();
    fmt::print("wrote {}\n", file.string());
    return;
  }
  fs::path dir = fs::path(o.out) / fmt::format("neuron{}", o.neurons);
  fs::create_directories(dir);
  const char* ext = o.gzip ? ".tsv.gz" : ".tsv";
  std::vector<std::exception_ptr> errors(o.layers);
  std::atomic<int32_t> done{0};
  std::mutex m;
#pragma omp parallel for schedule(dynamic, 1)
  for (int32_t l = 1; l <= o.layers; ++l) {
    try {
      io::write_layer_tsv(dir / fmt::format("n{}-l{}{}", o.neurons, l, ext), source.layer(l));
    } catch (...) {
      errors[l - 1] = std::current_exception();
    }
    int32_t d = ++done;
    std::lock_guard lock(m);
    progress.update("writing layers", d, o.layers);
  }
  progress.done();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  fmt::print("wrote {}/n{}-l{{1..{}}}{}\n", dir.string(), o.neurons, o.layers, ext);
}

void write_inputs(const GenerateOptions& o) {
  InputImages src = input_images(o.mnist, o.count, o.seed);
  GeneratedInputs g = challenge_inputs(src.images, o.neurons, o.count);
  fs::path file = fs::path(o.out) / fmt::format("sparse-images-{}{}", o.neurons,
                                                o.format == "bin" ? ".spdnn" : o.gzip ? ".tsv.gz" : ".tsv");
  if (o.format == "bin") io::save_features_cache(file, g.features);
  else io::write_images_tsv(file, g.features);
  fmt::print("wrote {}: {} inputs, {} nonzeros (target {}), threshold {:.4f}, from {}\n", file.string(),
             g.features.count(), g.features.nnz(), g.target_nnz, g.threshold, src.description);
}

}  // namespace

Command add_generate_command(CLI::App& app) {
  auto o = std::make_shared<GenerateOptions>();
  auto* cmd = app.add_subcommand("generate", "Generate a network (RadiX-Net, or random of the same shape) and MNIST-derived inputs");
  cmd->add_option("--neurons,-n", o->neurons, "N = 16 * 2^D: 1024, 4096, 16384, 65536, ...")->capture_default_str()
      ->check(positive());
  cmd->add_option("--layers,-l", o->layers, "Layers L")->capture_default_str()->check(positive());
  cmd->add_option("--seed", o->seed, "Seed of the row permutations (and of synthetic inputs)")->capture_default_str();
  cmd->add_option("--count", o->count, "Inputs to generate")->capture_default_str()->check(positive());
  cmd->add_option("--out,-o", o->out, "Output folder")->required();
  cmd->add_option("--mnist", o->mnist, "MNIST train-images-idx3-ubyte[.gz] (default: $SPDNN_MNIST or the data folder)");
  cmd->add_option("--format", o->format, "tsv (official layout) or bin (spdnn caches)")
      ->check(CLI::IsMember({"tsv", "bin"}))->capture_default_str();
  cmd->add_option("--what", o->what, "all, network or inputs")->check(CLI::IsMember({"all", "network", "inputs"}))->capture_default_str();
  cmd->add_option("--network", o->network,
                  "radixnet (the challenge's structure) or random (its shape: 32 weights of 1/16 per row and column, "
                  "rows and columns permuted at random, no equivalent neurons)")
      ->check(CLI::IsMember({"radixnet", "random"}))->capture_default_str();
  cmd->add_flag("--gzip", o->gzip, "Write .tsv.gz");
  cmd->add_flag("--quiet,-q", o->quiet, "No progress output");
  return [o]() {
    check_radixnet_size(o->neurons);
    fs::create_directories(o->out);
    TerminalProgress progress(!o->quiet);
    if (o->what != "inputs") write_network(*o, progress);
    if (o->what != "network") write_inputs(*o);
    return kExitOk;
  };
}

}  // namespace spdnn::app
