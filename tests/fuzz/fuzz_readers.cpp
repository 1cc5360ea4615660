// libFuzzer targets for every reader of outside data: each input is written to a file (readers take
// paths, and detect gzip themselves) and read. A reader may refuse an input only with spdnn::Error;
// anything else (a crash, a sanitizer report, another exception, an allocation the file's size cannot
// justify) is a finding. SPDNN_FUZZ_TARGET picks the reader (tests/fuzz/CMakeLists.txt builds one
// binary per entry of kTargets).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string_view>

#include "sparse/codegen/kernel_cache.hpp"
#include "spdnn/challenge/io.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"
#include "spdnn/sparse/weights.hpp"

namespace {

namespace fs = std::filesystem;
using namespace spdnn;

// A folder of this process's own for the input files (memory-backed where /dev/shm exists).
const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    fs::path d = base / ("spdnn-fuzz-" + std::to_string(getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

fs::path write_input(const uint8_t* data, size_t size, std::string_view name) {
  const fs::path p = scratch() / name;
  std::ofstream(p, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return p;
}

struct Target {
  std::string_view name, file;
  std::function<void(const fs::path&)> read;
};

// A fixed cache key: the file names the kernel cache reads are <key>.cubin and <key>.tune.
constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

const Target kTargets[] = {
    {"layer_tsv", "n64-l1.tsv", [](const fs::path& p) { (void)io::read_layer_tsv(p, 64); }},
    {"images_tsv", "images.tsv", [](const fs::path& p) { (void)io::read_images_tsv(p, 64); }},
    {"categories", "categories.tsv", [](const fs::path& p) { (void)io::read_categories(p); }},
    {"matrix_market", "m.mtx", [](const fs::path& p) { (void)io::read_matrix_market(p); }},
    {"smtx", "w.smtx", [](const fs::path& p) { (void)io::read_smtx(p, 1); }},
    {"npy", "w.npy",
     [](const fs::path& p) {
       const io::NpyArray a = io::read_npy(p);
       if (a.shape.size() == 2) (void)io::npy_to_csr(a, p.string());
     }},
    {"mnist", "images-idx3-ubyte", [](const fs::path& p) { (void)io::read_mnist_images(p); }},
    {"network_cache", "net.spdnn", [](const fs::path& p) { (void)io::load_network_cache(p); }},
    {"features_cache", "x.spdnn", [](const fs::path& p) { (void)io::load_features_cache(p); }},
    {"kernel_cache", "0123456789abcdef0123456789abcdef.cubin",
     [](const fs::path& p) {
       codegen::KernelCache cache(p.parent_path(), KernelCacheMode::load_only);
       std::string problem;
       (void)cache.load(std::string(kKey), &problem);
       // The same bytes as a tuning record (copied by hand: fs::copy_file can fail with EINTR under
       // libFuzzer's timer signals, which would read as a finding of the harness).
       std::ifstream in(p, std::ios::binary);
       std::ofstream(cache.tuning_path(std::string(kKey)), std::ios::binary | std::ios::trunc) << in.rdbuf();
       (void)cache.load_tuning(std::string(kKey));
     }},
};

const Target& target() {
  for (const Target& t : kTargets)
    if (t.name == SPDNN_FUZZ_TARGET) return t;
  std::fprintf(stderr, "no fuzz target %s\n", SPDNN_FUZZ_TARGET);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Target& t = target();
  const fs::path p = write_input(data, size, t.file);
  try {
    t.read(p);
  } catch (const spdnn::Error&) {
    // A clean refusal: what bad input must get.
  }
  return 0;
}
