// The official directory layout of the challenge files, and loading networks/features from either
// that layout or spdnn's binary cache.
#include <omp.h>

#include <atomic>
#include <exception>
#include <fmt/format.h>
#include <map>
#include <mutex>
#include <regex>
#include <set>

#include "core/parallel_errors.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/io.hpp"

namespace spdnn::io {

std::optional<fs::path> find_file(const fs::path& plain) {
  std::error_code ec;
  if (fs::is_regular_file(plain, ec)) return plain;
  fs::path gz = plain;
  gz += ".gz";
  if (fs::is_regular_file(gz, ec)) return gz;
  return std::nullopt;
}

namespace {

void require_dir(const fs::path& dir, const char* what) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(Errc::io, fmt::format("{}: no such {}", dir.string(), what));
  if (!fs::is_directory(dir, ec)) throw Error(Errc::io, fmt::format("{}: not a {}", dir.string(), what));
}

std::string join(const std::set<int64_t>& s) {
  std::string out;
  for (int64_t v : s) out += (out.empty() ? "" : ", ") + std::to_string(v);
  return out;
}

// The distinct numbers captured by `pattern` (group 1) in the names of the entries of `dir`.
std::set<int64_t> numbers_in_names(const fs::path& dir, const std::regex& pattern, bool folders) {
  std::set<int64_t> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    std::string name = e.path().filename().string();
    if (e.is_directory() == folders && std::regex_match(name, m, pattern)) found.insert(std::stoll(m[1]));
  }
  return found;
}

}  // namespace

int32_t infer_neurons(const fs::path& data_dir) {
  require_dir(data_dir, "data folder");
  std::set<int64_t> found = numbers_in_names(data_dir, std::regex(R"(neuron(\d+))"), true);
  if (found.empty())
    throw Error(Errc::io, fmt::format("{}: no neuron{{N}} folder (official layout)", data_dir.string()));
  if (found.size() > 1)
    throw Error(Errc::usage, fmt::format("{}: several networks (N = {}); choose one with --neurons",
                                         data_dir.string(), join(found)));
  return static_cast<int32_t>(*found.begin());
}

int32_t infer_weights_neurons(const fs::path& weights_dir) {
  require_dir(weights_dir, "weights folder");
  std::set<int64_t> found = numbers_in_names(weights_dir, std::regex(R"(n(\d+)-l(\d+)\.tsv(\.gz)?)"), false);
  if (found.empty())
    throw Error(Errc::io, fmt::format("{}: no layer files n{{N}}-l{{l}}.tsv", weights_dir.string()));
  if (found.size() > 1)
    throw Error(Errc::mismatch, fmt::format("{}: layer files of different N ({}) in one folder",
                                            weights_dir.string(), join(found)));
  return static_cast<int32_t>(*found.begin());
}

int32_t count_layer_files(const fs::path& weights_dir, int32_t neurons) {
  int32_t l = 0;
  while (find_file(weights_dir / fmt::format("n{}-l{}.tsv", neurons, l + 1))) ++l;
  return l;
}

Network load_network(const fs::path& weights, int32_t neurons, int32_t layers, std::optional<float> bias,
                     const Progress& progress) {
  std::error_code ec;
  if (fs::is_regular_file(weights, ec)) {
    // A file must be a network cache; its loader says precisely what is wrong with it if not.
    Network net = load_network_cache(weights);
    if (neurons != 0 && neurons != net.neurons)
      throw Error(Errc::mismatch, fmt::format("{}: network has N = {}, expected {}", weights.string(), net.neurons, neurons));
    if (layers > net.num_layers())
      throw Error(Errc::mismatch, fmt::format("{}: network has {} layers, {} requested", weights.string(),
                                              net.num_layers(), layers));
    if (layers > 0) net.layers.resize(layers);
    if (bias) net.bias = *bias;
    return net;
  }

  if (neurons == 0) neurons = infer_weights_neurons(weights);
  else require_dir(weights, "weights folder");
  int32_t available = count_layer_files(weights, neurons);
  if (layers == 0) layers = available;
  if (layers == 0)
    throw Error(Errc::io, fmt::format("{}: no file n{}-l1.tsv[.gz]", weights.string(), neurons));
  if (available < layers)
    throw Error(Errc::io, fmt::format("{}: no file n{}-l{}.tsv[.gz] ({} layers requested)",
                                      weights.string(), neurons, available + 1, layers));
  if (!bias) bias = challenge_bias(neurons);
  if (!bias)
    throw Error(Errc::usage, fmt::format("no challenge bias is defined for N = {}; give one (--bias, or bias= in Python)", neurons));

  Network net;
  net.neurons = neurons;
  net.bias = *bias;
  net.layers.resize(layers);
  // One layer per thread: layer files are small enough that parsing them whole in parallel beats
  // splitting each one. The first error in layer order wins.
  ParallelErrors errors(layers);
  std::atomic<int64_t> done{0};
  std::mutex progress_mutex;
#pragma omp parallel for schedule(dynamic, 1)
  for (int32_t l = 0; l < layers; ++l) {
    errors.run(l, [&] {
      fs::path file = *find_file(weights / fmt::format("n{}-l{}.tsv", neurons, l + 1));
      net.layers[l] = read_layer_tsv(file, neurons);
    });
    int64_t d = ++done;
    if (progress) {
      std::lock_guard lock(progress_mutex);
      progress(d, layers);
    }
  }
  errors.rethrow();
  return net;
}

Features load_features(const fs::path& path, int32_t neurons) {
  if (cache_kind(path) == CacheKind::features) {
    Features x = load_features_cache(path);
    if (x.neurons() != neurons)
      throw Error(Errc::mismatch, fmt::format("{}: features have {} neurons, the network {}", path.string(),
                                              x.neurons(), neurons));
    return x;
  }
  return read_images_tsv(path, neurons);
}

}  // namespace spdnn::io
