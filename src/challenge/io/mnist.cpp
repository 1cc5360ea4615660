// MNIST idx3-ubyte images (gzip accepted): big-endian header magic 0x00000803, count, rows, cols.
#include <fmt/format.h>

#include "io/compressed_file.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/io.hpp"

namespace spdnn::io {

MnistImages read_mnist_images(const fs::path& path) {
  InputFile file(path);
  unsigned char h[16];
  if (file.read(reinterpret_cast<char*>(h), sizeof h) != sizeof h)
    throw Error(Errc::format, fmt::format("{}: too short for an MNIST idx header", file.name()));
  auto be32 = [&](int at) {
    return (uint32_t{h[at]} << 24) | (uint32_t{h[at + 1]} << 16) | (uint32_t{h[at + 2]} << 8) | h[at + 3];
  };
  if (be32(0) != 0x00000803)
    throw Error(Errc::format, fmt::format("{}: not an MNIST image file (magic {:#010x}, expected 0x00000803)", file.name(), be32(0)));
  MnistImages m;
  m.count = be32(4);
  m.rows = static_cast<int32_t>(be32(8));
  m.cols = static_cast<int32_t>(be32(12));
  if (m.rows <= 0 || m.cols <= 0 || m.rows > 4096 || m.cols > 4096)
    throw Error(Errc::format, fmt::format("{}: implausible image size {} x {}", file.name(), m.rows, m.cols));
  // The data is read before anything is sized from the header, so that a damaged count cannot ask for
  // terabytes (found by fuzzing).
  const std::string data = file.read_all();
  const size_t bytes = static_cast<size_t>(m.count) * m.rows * m.cols;
  if (data.size() < bytes)
    throw Error(Errc::format, fmt::format("{}: truncated: header announces {} images of {} x {}, the file holds {} bytes",
                                          file.name(), m.count, m.rows, m.cols, data.size()));
  m.pixels.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(bytes));
  return m;
}

}  // namespace spdnn::io
