// The on-disk kernel cache (see kernel_cache.hpp).
#include "sparse/codegen/kernel_cache.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "spdnn/atomic_file.hpp"
#include "spdnn/error.hpp"

namespace spdnn {

KernelCacheMode parse_kernel_cache_mode(const std::string& text) {
  if (text == "off") return KernelCacheMode::off;
  if (text == "load-only") return KernelCacheMode::load_only;
  if (text == "on") return KernelCacheMode::on;
  throw Error(Errc::usage, fmt::format("kernel cache mode '{}': expected off, load-only or on", text));
}

const char* to_string(KernelCacheMode mode) {
  switch (mode) {
    case KernelCacheMode::off: return "off";
    case KernelCacheMode::load_only: return "load-only";
    case KernelCacheMode::on: return "on";
  }
  return "?";
}

}  // namespace spdnn

namespace spdnn::codegen {

namespace {

constexpr char kMagic[8] = {'S', 'P', 'D', 'N', 'K', 'R', 'N', '1'};

// The header of a cached module: magic, the full key (32 hex digits), payload size and checksum.
struct ModuleHeader {
  char magic[8];
  char key[32];
  uint64_t size;
  uint64_t checksum;
};

uint64_t checksum_of(const char* data, size_t n) {
  KeyHasher h;
  h.bytes(data, n);
  return h.value64();
}

}  // namespace

void KeyHasher::bytes(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t a = a_, b = b_;
  for (size_t i = 0; i < n; ++i) {
    a = (a ^ p[i]) * 0x100000001b3ull;
    b = (b ^ p[i]) * 0x9E3779B185EBCA87ull;
  }
  a_ = a, b_ = b;
}

namespace {
uint64_t mix(uint64_t h) {
  h ^= h >> 33, h *= 0xff51afd7ed558ccdull, h ^= h >> 33, h *= 0xc4ceb9fe1a85ec53ull, h ^= h >> 33;
  return h;
}
}  // namespace

uint64_t KeyHasher::value64() const { return mix(a_ ^ (b_ >> 7)); }

std::string KeyHasher::hex() const { return fmt::format("{:016x}{:016x}", value64(), mix(b_ + a_)); }

std::string layer_key(const CsrMatrix& w, const std::vector<float>& bias, bool relu) {
  KeyHasher h;
  h.text("spdnn-layer");
  h.value(static_cast<uint64_t>(w.rows));
  h.value(static_cast<uint64_t>(w.cols));
  h.values(w.row_ptr);
  h.values(w.col_idx);
  h.values(w.values);
  h.values(bias);
  h.value(relu ? 1 : 0);
  return h.hex();
}

std::string module_key(std::string_view layer, const KernelConfig& config, int64_t n, int arch, std::string_view compiler) {
  KeyHasher h;
  h.text("spdnn-module");
  h.text(layer);
  h.text(to_string(module_of(config)));
  h.value(static_cast<uint64_t>(compiled_stride(config, n)));
  for (const auto& o : compile_options(config)) h.text(o);
  h.value(static_cast<uint64_t>(arch));
  h.text(SPDNN_VERSION);
  h.value(kEmitRevision);
  h.text(compiler);  // NVRTC version and options
  return h.hex();
}

fs::path default_cache_dir() {
  if (const char* env = std::getenv("SPDNN_KERNEL_CACHE"); env != nullptr && *env != '\0') return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg != '\0')
    return fs::path(xdg) / "spdnn" / "kernels";
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0')
    return fs::path(home) / ".cache" / "spdnn" / "kernels";
  return fs::temp_directory_path() / "spdnn-kernels";
}

KernelCache::KernelCache(fs::path dir, KernelCacheMode mode)
    : dir_(dir.empty() ? default_cache_dir() : std::move(dir)), mode_(mode) {}

std::optional<std::vector<char>> KernelCache::load(const std::string& key, std::string* problem) {
  if (!reads()) return std::nullopt;
  const fs::path path = module_path(key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto reject = [&](const char* why) -> std::optional<std::vector<char>> {
    if (problem != nullptr) *problem = fmt::format("kernel cache file {} {}: rebuilt", path.string(), why);
    if (writes()) {
      std::error_code ec;
      fs::remove(path, ec);
    }
    return std::nullopt;
  };
  ModuleHeader header;
  if (bytes.size() < sizeof header) return reject("is truncated");
  std::memcpy(&header, bytes.data(), sizeof header);
  if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0) return reject("is not a spdnn kernel");
  if (std::string_view(header.key, sizeof header.key) != key) return reject("holds another kernel");
  if (header.size != bytes.size() - sizeof header) return reject("is truncated");
  if (header.checksum != checksum_of(bytes.data() + sizeof header, header.size)) return reject("fails its checksum");
  return std::vector<char>(bytes.begin() + sizeof header, bytes.end());
}

std::optional<std::string> KernelCache::write_atomically(const fs::path& path, const std::string& bytes) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  try {
    io::write_file_atomically(path, bytes);
  } catch (const Error& e) {
    return fmt::format("kernel cache: {} (kernel kept in memory only)", e.what());
  }
  return std::nullopt;
}

std::optional<std::string> KernelCache::store(const std::string& key, const std::vector<char>& module) {
  if (!writes()) return std::nullopt;
  if (key.size() != 32) throw Error(Errc::usage, fmt::format("kernel cache: bad key '{}'", key));
  ModuleHeader header{};
  std::memcpy(header.magic, kMagic, sizeof kMagic);
  std::memcpy(header.key, key.data(), sizeof header.key);
  header.size = module.size();
  header.checksum = checksum_of(module.data(), module.size());
  std::string bytes(reinterpret_cast<const char*>(&header), sizeof header);
  bytes.append(module.data(), module.size());
  return write_atomically(module_path(key), bytes);
}

// A tuning record is one line: "spdnn-tuning2 <key> <microseconds> <configuration text or 'generic'>".
// Records of another format (spdnn 0.4, tagged spdnn-tuning) are not read: the layer is tuned again.
constexpr std::string_view kTuningTag = "spdnn-tuning2";

std::optional<KernelCache::Tuned> KernelCache::load_tuning(const std::string& key) {
  if (!reads()) return std::nullopt;
  std::ifstream in(tuning_path(key));
  std::string tag, stored_key, config;
  Tuned t;
  if (!(in >> tag >> stored_key >> t.microseconds >> config) || tag != kTuningTag || stored_key != key) return std::nullopt;
  if (config == "generic") return t;
  try {
    t.config = parse_kernel_config(config);
  } catch (const Error&) {
    return std::nullopt;
  }
  return t;
}

void KernelCache::store_tuning(const std::string& key, const Tuned& t) {
  if (!writes()) return;
  (void)write_atomically(tuning_path(key), fmt::format("{} {} {:.3f} {}\n", kTuningTag, key, t.microseconds,
                                                       t.config ? to_string(*t.config) : std::string("generic")));
}

}  // namespace spdnn::codegen
