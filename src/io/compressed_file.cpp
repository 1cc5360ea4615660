// zlib-backed InputFile/OutputFile.
#include "io/compressed_file.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <fmt/format.h>
#include <unistd.h>

#include "spdnn/atomic_file.hpp"
#include "spdnn/error.hpp"

namespace spdnn::io {

namespace {
constexpr unsigned kZlibBuffer = 1u << 20;  // zlib's internal buffer: large reads, fewer syscalls
}

InputFile::InputFile(const std::filesystem::path& path) : name_(path.string()) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(Errc::io, fmt::format("{}: no such file", name_));
  if (std::filesystem::is_directory(path, ec))
    throw Error(Errc::io, fmt::format("{}: is a directory, expected a file", name_));
  gz_ = gzopen(name_.c_str(), "rb");
  if (gz_ == nullptr) throw Error(Errc::io, fmt::format("{}: cannot open: {}", name_, std::strerror(errno)));
  gzbuffer(gz_, kZlibBuffer);
}

InputFile::~InputFile() {
  if (gz_ != nullptr) gzclose_r(gz_);
}

std::string InputFile::read_all() {
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = read(buf, sizeof buf)) > 0) text.append(buf, n);
  return text;
}

size_t InputFile::read(char* dst, size_t n) {
  size_t done = 0;
  while (done < n) {
    unsigned want = static_cast<unsigned>(std::min<size_t>(n - done, INT_MAX / 2));
    int got = gzread(gz_, dst + done, want);
    if (got <= 0) {
      int errnum = Z_OK;
      const char* msg = gzerror(gz_, &errnum);
      if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
        // Z_BUF_ERROR is zlib's "unexpected end of file": a truncated gzip stream.
        const char* what = errnum == Z_BUF_ERROR ? "truncated gzip data" : "corrupt gzip data";
        throw Error(Errc::format, fmt::format("{}: {} ({})", name_, what, msg));
      }
      break;
    }
    done += static_cast<size_t>(got);
  }
  return done;
}

OutputFile::OutputFile(const std::filesystem::path& path)
    : name_(path.string()), path_(path), tmp_(fmt::format("{}.partial-{}", path.string(), static_cast<long>(getpid()))) {
  if (path.extension() == ".gz") {
    gz_ = gzopen(tmp_.c_str(), "wb1");  // fast level: these files are rewritten, not archived
    if (gz_ != nullptr) gzbuffer(gz_, kZlibBuffer);
  } else {
    file_ = std::fopen(tmp_.c_str(), "wb");
  }
  if (gz_ == nullptr && file_ == nullptr)
    throw Error(Errc::io, fmt::format("{}: cannot create: {}", name_, std::strerror(errno)));
}

OutputFile::~OutputFile() {
  if (gz_ != nullptr) gzclose_w(gz_);
  if (file_ != nullptr) std::fclose(file_);
  if (!published_) {
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void OutputFile::write(const char* data, size_t n) {
  bool ok;
  if (gz_ != nullptr) {
    ok = n == 0 || gzwrite(gz_, data, static_cast<unsigned>(n)) == static_cast<int>(n);
  } else {
    ok = std::fwrite(data, 1, n, file_) == n;
  }
  if (!ok) throw Error(Errc::io, fmt::format("{}: write failed: {}", name_, std::strerror(errno)));
}

void OutputFile::finish() {
  int rc = 0;
  if (gz_ != nullptr) rc = gzclose_w(gz_) == Z_OK ? 0 : -1;
  if (file_ != nullptr) rc = std::fclose(file_);
  gz_ = nullptr;
  file_ = nullptr;
  if (rc != 0) throw Error(Errc::io, fmt::format("{}: write failed on close: {}", name_, std::strerror(errno)));
}

void OutputFile::publish() {
  std::error_code ec;
  std::filesystem::rename(tmp_, path_, ec);
  if (ec) throw Error(Errc::io, fmt::format("{}: cannot move the written file into place: {}", name_, ec.message()));
  published_ = true;
}

void write_file_atomically(const std::filesystem::path& path, std::string_view contents) {
  OutputFile out(path);
  out.write(contents.data(), contents.size());
  out.close();
}

}  // namespace spdnn::io
