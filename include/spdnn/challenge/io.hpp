// The challenge's file formats: TSV layers, images and categories, the official folder layout, MNIST, and
// spdnn's binary caches of networks and features.
// Every reader accepts gzip-compressed files transparently and throws Error naming file and line.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/challenge/features.hpp"
#include "spdnn/challenge/network.hpp"

namespace spdnn::io {

namespace fs = std::filesystem;

// Progress of a long load: (units done, units total).
using Progress = std::function<void(int64_t, int64_t)>;

// ---- challenge TSV ---------------------------------------------------------------------------------
// Layer file: `row<TAB>col<TAB>value`, 1-based, N x N. Any order; indices must lie in [1, N].
CsrMatrix read_layer_tsv(const fs::path& path, int32_t neurons);
// Writes the official layout: sorted by column then row, values as %.6e. `.gz` paths are compressed.
void write_layer_tsv(const fs::path& path, const CsrMatrix& layer);

// Images file: `image<TAB>neuron<TAB>value`, 1-based, any order. `count` = 0 takes the largest image id.
Features read_images_tsv(const fs::path& path, int32_t neurons, int64_t count = 0);
void write_images_tsv(const fs::path& path, const Features& x);

// Categories: one 1-based id per line; returned sorted.
std::vector<int64_t> read_categories(const fs::path& path);
void write_categories(const fs::path& path, const std::vector<int64_t>& ids);

// ---- the official directory layout -----------------------------------------------------------------
// DIR/neuron{N}/n{N}-l{l}.tsv[.gz], DIR/sparse-images-{N}.tsv[.gz], DIR/neuron{N}-l{L}-categories.tsv[.gz]
// An existing path, trying `.gz` after the plain name; nullopt if neither exists.
std::optional<fs::path> find_file(const fs::path& plain);
// The N of the neuron{N} folders in DIR; throws if there is none or more than one.
int32_t infer_neurons(const fs::path& data_dir);
// The N of the n{N}-l*.tsv files in a weights folder; throws if none, or if several N are mixed.
int32_t infer_weights_neurons(const fs::path& weights_dir);
// Number of consecutive layer files n{N}-l1, -l2, ... in a weights folder.
int32_t count_layer_files(const fs::path& weights_dir, int32_t neurons);
// Reads layers 1..L of a weights folder (or a binary network cache file).
// `neurons`/`layers` = 0 take them from the files; `bias` defaults to the cache's or the challenge's.
Network load_network(const fs::path& weights, int32_t neurons, int32_t layers, std::optional<float> bias,
                     const Progress& progress = {});
// Reads images from TSV or a binary features cache.
Features load_features(const fs::path& path, int32_t neurons);

// ---- MNIST (idx3-ubyte, the source of the challenge inputs) ---------------------------------------
struct MnistImages {
  int64_t count = 0;
  int32_t rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major per image, 0..255
};
MnistImages read_mnist_images(const fs::path& path);

// ---- spdnn's binary cache --------------------------------------------------------------------------
// A versioned header (magic, kind, sizes, checksum of everything after it), then 64-byte aligned arrays
// that can be used in place when mapped. Loads verify magic, version, sizes and checksum.
enum class CacheKind : uint32_t { network = 1, features = 2 };
constexpr uint32_t kCacheVersion = 1;

void save_network_cache(const fs::path& path, const Network& net);
// Writes a network cache one layer at a time (for networks larger than memory). Every layer must be
// neurons x neurons with the nonzero count announced in `layer_nnz`.
class NetworkCacheWriter {
 public:
  NetworkCacheWriter(const fs::path& path, int32_t neurons, std::vector<uint64_t> layer_nnz, float bias,
                     float clip = 32.0f);
  ~NetworkCacheWriter();
  void add_layer(const CsrMatrix& layer);
  void finish();  // writes the header; the file is invalid until then

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};
Network load_network_cache(const fs::path& path);
void save_features_cache(const fs::path& path, const Features& x);
Features load_features_cache(const fs::path& path);
// The kind of cache file at `path`, or nullopt if it does not start with the cache magic.
std::optional<CacheKind> cache_kind(const fs::path& path);

}  // namespace spdnn::io
