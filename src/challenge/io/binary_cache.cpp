// spdnn's binary cache: a checked, mmap-friendly image of a Network or of Features.
//
// Layout (little-endian): a 128-byte header, then the payload. Every array starts on a 64-byte
// boundary so the file can be used in place when mapped.
//   network:  u64 nnz[L] | per layer: i64 row_ptr[N+1], i32 col_idx[nnz], f32 values[nnz]
//   features: u64 nnz    | i64 row_ptr[rows+1], i32 col_idx[nnz], f32 values[nnz]
// The header holds the checksum of the payload (of the checksums of its sections); a load checks magic,
// version, kind, the file size implied by the sizes, the checksum, and the offsets' and indices' ranges.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>
#include <fmt/format.h>

#include "challenge/io/checksum.hpp"
#include "core/parallel_errors.hpp"
#include "io/compressed_file.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/io.hpp"

namespace spdnn::io {

namespace {

constexpr char kMagic[8] = {'S', 'P', 'D', 'N', 'N', 'B', 'I', 'N'};
constexpr size_t kAlign = 64;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t kind;
  uint64_t cols;   // neurons
  uint64_t count;  // layers (network) or rows (features)
  float bias;
  float clip;
  uint64_t payload_bytes;
  uint64_t checksum;
  unsigned char reserved[128 - 56];
};
static_assert(sizeof(Header) == 128);

constexpr size_t padded(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

size_t matrix_bytes(uint64_t rows, uint64_t nnz) {
  return padded((rows + 1) * sizeof(int64_t)) + padded(nnz * sizeof(int32_t)) + padded(nnz * sizeof(float));
}

// The checksum of one section: its bytes, zero-padded to a multiple of 32 (as stored on disk).
uint64_t section_checksum(const void* data, size_t n) {
  Checksum sum;
  size_t whole = n / 32 * 32;
  sum.update(data, whole);
  if (whole != n) {
    unsigned char last[32] = {};
    std::memcpy(last, static_cast<const char*>(data) + whole, n - whole);
    sum.update(last, 32);
  }
  return sum.value();
}

// The file's checksum: of the sections' checksums in file order. Sections are checked independently,
// so a load can verify them in parallel while it copies them.
uint64_t combine(const std::vector<uint64_t>& sums) {
  std::vector<uint64_t> padded_sums(sums);
  padded_sums.resize((sums.size() + 3) / 4 * 4, 0);
  Checksum sum;
  sum.update(padded_sums.data(), padded_sums.size() * sizeof(uint64_t));
  return sum.value();
}

// Writes sections padded to kAlign, remembering each one's checksum.
class CacheWriter {
 public:
  explicit CacheWriter(const fs::path& path) : path_(path), out_(path) {
    Header h{};
    out_.write(reinterpret_cast<const char*>(&h), sizeof h);  // rewritten once the checksum is known
  }
  void section(const void* data, size_t n) {
    static const char zeros[kAlign] = {};
    out_.write(static_cast<const char*>(data), n);
    out_.write(zeros, padded(n) - n);
    sums_.push_back(section_checksum(data, n));
    bytes_ += padded(n);
  }
  void matrix(const CsrMatrix& m) {
    section(m.row_ptr.data(), m.row_ptr.size() * sizeof(int64_t));
    section(m.col_idx.data(), m.col_idx.size() * sizeof(int32_t));
    section(m.values.data(), m.values.size() * sizeof(float));
  }
  // The header is written last, into the temporary file, which then replaces the cache: a reader never
  // sees a cache without its header.
  void finish(Header h) {
    out_.finish();
    std::memcpy(h.magic, kMagic, sizeof kMagic);
    h.version = kCacheVersion;
    h.payload_bytes = bytes_;
    h.checksum = combine(sums_);
    std::FILE* f = std::fopen(out_.temporary_path().c_str(), "r+b");
    bool ok = f != nullptr && std::fwrite(&h, sizeof h, 1, f) == 1;
    if (f != nullptr) ok = std::fclose(f) == 0 && ok;
    if (!ok) throw Error(Errc::io, fmt::format("{}: cannot write header: {}", path_.string(), std::strerror(errno)));
    out_.publish();
  }

 private:
  fs::path path_;
  OutputFile out_;
  std::vector<uint64_t> sums_;
  size_t bytes_ = 0;
};

// An open cache file whose header has been checked. The arrays are read with pread straight into
// their destination (one pass through memory), checksummed chunk by chunk while still in cache.
// (The layout also allows using the file in place through mmap; copying into owned vectors is what
// the engines need today, and pread is the faster way to do that.)
class CacheReader {
 public:
  CacheReader(const fs::path& path, CacheKind want) : name_(path.string()) {
    fd_.fd = ::open(name_.c_str(), O_RDONLY);
    if (fd_ < 0) throw Error(Errc::io, fmt::format("{}: cannot open: {}", name_, std::strerror(errno)));
    struct stat st {};
    ::fstat(fd_, &st);
    const size_t size = static_cast<size_t>(st.st_size);
    if (size < sizeof(Header)) fail(fmt::format("{} bytes, too short for an spdnn cache header", size));
    read_exact(&header_, sizeof header_, 0);
    if (std::memcmp(header_.magic, kMagic, sizeof kMagic) != 0)
      fail("not an spdnn cache (wrong magic; caches are written by 'spdnn convert')");
    if (header_.version != kCacheVersion)
      fail(fmt::format("cache version {}, this build reads version {}", header_.version, kCacheVersion));
    if (header_.kind != static_cast<uint32_t>(want))
      fail(fmt::format("holds {}, expected {}", kind_name(header_.kind), kind_name(static_cast<uint32_t>(want))));
    if (header_.payload_bytes != size - sizeof(Header))
      fail(fmt::format("truncated or padded: header says {} payload bytes, file has {}", header_.payload_bytes,
                       size - sizeof(Header)));
  }

  const Header& header() const { return header_; }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(Errc::format, fmt::format("{}: {}", name_, why));
  }

  // Reads n bytes of the section at payload offset `offset` into dst; returns its checksum.
  uint64_t section(void* dst, size_t n, size_t offset) const {
    if (offset + padded(n) > header_.payload_bytes) fail("sizes in the header exceed the file");
    constexpr size_t kChunk = 1 << 20;  // fits in L2: checksummed right after the copy
    Checksum sum;
    auto* out = static_cast<char*>(dst);
    size_t whole = n / 32 * 32;
    for (size_t done = 0; done < whole; done += kChunk) {
      size_t len = std::min(kChunk, whole - done);
      read_exact(out + done, len, sizeof(Header) + offset + done);
      sum.update(out + done, len);
    }
    if (whole != n) {
      unsigned char last[32] = {};
      read_exact(last, n - whole, sizeof(Header) + offset + whole);
      std::memcpy(out + whole, last, n - whole);
      sum.update(last, 32);
    }
    return sum.value();
  }

  // Reads one CSR matrix at `offset` (sizes from the header/table); fills its sections' checksums.
  void matrix(size_t offset, uint64_t rows, uint64_t cols, uint64_t nnz, CsrMatrix& m, uint64_t* sums) const {
    // Each size on its own first: a damaged size near 2^64 would wrap the sum below (found by fuzzing).
    const uint64_t limit = header_.payload_bytes;
    if (rows >= limit / sizeof(int64_t) || nnz > limit / sizeof(int32_t) || offset > limit ||
        matrix_bytes(rows, nnz) > limit - offset)
      fail("sizes in the header exceed the file");
    m.rows = static_cast<int64_t>(rows);
    m.cols = static_cast<int64_t>(cols);
    m.row_ptr.resize(rows + 1);
    m.col_idx.resize(nnz);
    m.values.resize(nnz);
    sums[0] = section(m.row_ptr.data(), (rows + 1) * sizeof(int64_t), offset);
    offset += padded((rows + 1) * sizeof(int64_t));
    sums[1] = section(m.col_idx.data(), nnz * sizeof(int32_t), offset);
    offset += padded(nnz * sizeof(int32_t));
    sums[2] = section(m.values.data(), nnz * sizeof(float), offset);
  }

  // Cheap structural checks after the checksum (which rules out accidental damage only).
  void check_matrix(const CsrMatrix& m, const std::string& what) const {
    bool offsets_ok = m.row_ptr.front() == 0 && m.row_ptr.back() == m.nnz() &&
                      std::is_sorted(m.row_ptr.begin(), m.row_ptr.end());
    if (!offsets_ok) fail(fmt::format("{}: row offsets inconsistent", what));
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int32_t c : m.col_idx) lo = std::min(lo, c), hi = std::max(hi, c);
    if (m.nnz() > 0 && (lo < 0 || hi >= m.cols)) fail(fmt::format("{}: column index out of range", what));
    if (!std::all_of(m.values.begin(), m.values.end(), [](float v) { return std::isfinite(v); }))
      fail(fmt::format("{}: a value is not finite", what));
  }

  void check_total(const std::vector<uint64_t>& sums) const {
    if (combine(sums) != header_.checksum) fail("checksum mismatch (corrupt file)");
  }

 private:
  void read_exact(void* dst, size_t n, size_t file_offset) const {
    auto* p = static_cast<char*>(dst);
    while (n > 0) {
      ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(file_offset));
      if (got <= 0) fail(got == 0 ? "unexpected end of file" : fmt::format("read error: {}", std::strerror(errno)));
      p += got, n -= static_cast<size_t>(got), file_offset += static_cast<size_t>(got);
    }
  }
  static std::string kind_name(uint32_t k) {
    return k == 1 ? "a network" : k == 2 ? "features" : fmt::format("unknown kind {}", k);
  }
  // The descriptor closes itself, also when the constructor refuses the file: a destructor of
  // CacheReader would not run then, and every rejected cache leaked one (found by fuzzing, whose
  // process ran out of descriptors).
  struct Descriptor {
    int fd = -1;
    ~Descriptor() {
      if (fd >= 0) ::close(fd);
    }
    operator int() const { return fd; }
  };
  std::string name_;
  Descriptor fd_;
  Header header_{};
};

}  // namespace

struct NetworkCacheWriter::Impl {
  CacheWriter writer;
  int32_t neurons;
  std::vector<uint64_t> nnz;
  float bias, clip;
  size_t added = 0;
  Impl(const fs::path& p, int32_t n, std::vector<uint64_t> z, float b, float c)
      : writer(p), neurons(n), nnz(std::move(z)), bias(b), clip(c) {}
};

NetworkCacheWriter::NetworkCacheWriter(const fs::path& path, int32_t neurons, std::vector<uint64_t> layer_nnz,
                                       float bias, float clip)
    : impl_(std::make_unique<Impl>(path, neurons, std::move(layer_nnz), bias, clip)) {
  impl_->writer.section(impl_->nnz.data(), impl_->nnz.size() * sizeof(uint64_t));
}

NetworkCacheWriter::~NetworkCacheWriter() = default;

void NetworkCacheWriter::add_layer(const CsrMatrix& layer) {
  const size_t l = impl_->added;
  if (l >= impl_->nnz.size() || layer.rows != impl_->neurons || layer.cols != impl_->neurons ||
      static_cast<uint64_t>(layer.nnz()) != impl_->nnz[l])
    throw Error(Errc::mismatch, fmt::format("network cache: layer {} does not match the announced sizes", l + 1));
  impl_->writer.matrix(layer);
  ++impl_->added;
}

void NetworkCacheWriter::finish() {
  if (impl_->added != impl_->nnz.size())
    throw Error(Errc::mismatch, fmt::format("network cache: {} of {} layers written", impl_->added, impl_->nnz.size()));
  Header h{};
  h.kind = static_cast<uint32_t>(CacheKind::network);
  h.cols = static_cast<uint64_t>(impl_->neurons);
  h.count = impl_->nnz.size();
  h.bias = impl_->bias;
  h.clip = impl_->clip;
  impl_->writer.finish(h);
}

void save_network_cache(const fs::path& path, const Network& net) {
  net.validate();
  std::vector<uint64_t> nnz;
  for (const CsrMatrix& m : net.layers) nnz.push_back(static_cast<uint64_t>(m.nnz()));
  NetworkCacheWriter w(path, net.neurons, std::move(nnz), net.bias, net.clip);
  for (const CsrMatrix& m : net.layers) w.add_layer(m);
  w.finish();
}

Network load_network_cache(const fs::path& path) {
  CacheReader c(path, CacheKind::network);
  const Header& h = c.header();
  if (h.cols == 0 || h.cols > INT32_MAX) c.fail(fmt::format("{} neurons", h.cols));
  if (h.count > (uint64_t{1} << 24)) c.fail(fmt::format("{} layers", h.count));
  std::vector<uint64_t> nnz(h.count);
  std::vector<uint64_t> sums(1 + 3 * h.count);
  sums[0] = c.section(nnz.data(), h.count * sizeof(uint64_t), 0);
  Network net;
  net.neurons = static_cast<int32_t>(h.cols);
  net.bias = h.bias;
  net.clip = h.clip;
  net.layers.resize(h.count);
  std::vector<size_t> offset(h.count + 1, padded(h.count * sizeof(uint64_t)));
  for (uint64_t l = 0; l < h.count; ++l) {
    if (nnz[l] > h.cols * h.cols) c.fail(fmt::format("layer {}: {} nonzeros", l + 1, nnz[l]));
    offset[l + 1] = offset[l] + matrix_bytes(h.cols, nnz[l]);
  }
  // Layers in parallel: each thread's copies, page faults and checksums proceed independently.
  ParallelErrors errors(h.count);
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t l = 0; l < static_cast<int64_t>(h.count); ++l)
    errors.run(l, [&] { c.matrix(offset[l], h.cols, h.cols, nnz[l], net.layers[l], &sums[1 + 3 * l]); });
  errors.rethrow();
  c.check_total(sums);
  for (uint64_t l = 0; l < h.count; ++l) c.check_matrix(net.layers[l], fmt::format("layer {}", l + 1));
  return net;
}

void save_features_cache(const fs::path& path, const Features& x) {
  CacheWriter w(path);
  uint64_t nnz = static_cast<uint64_t>(x.nnz());
  w.section(&nnz, sizeof nnz);
  w.matrix(x.matrix);
  Header h{};
  h.kind = static_cast<uint32_t>(CacheKind::features);
  h.cols = static_cast<uint64_t>(x.neurons());
  h.count = static_cast<uint64_t>(x.count());
  w.finish(h);
}

Features load_features_cache(const fs::path& path) {
  CacheReader c(path, CacheKind::features);
  const Header& h = c.header();
  uint64_t nnz = 0;
  std::vector<uint64_t> sums(4);
  sums[0] = c.section(&nnz, sizeof nnz, 0);
  if (h.cols > INT32_MAX || (h.count > 0 && nnz > h.count * h.cols) || (h.count == 0 && nnz > 0))
    c.fail("inconsistent sizes");
  Features x;
  c.matrix(kAlign, h.count, h.cols, nnz, x.matrix, &sums[1]);
  c.check_total(sums);
  c.check_matrix(x.matrix, "features");
  return x;
}

std::optional<CacheKind> cache_kind(const fs::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::nullopt;
  Header h{};
  size_t got = std::fread(&h, 1, sizeof h, f);
  std::fclose(f);
  if (got < 16 || std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return std::nullopt;
  return static_cast<CacheKind>(h.kind);
}

}  // namespace spdnn::io
