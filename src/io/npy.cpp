// NumPy .npy float32 arrays (pruned weights stored dense, biases), and their dense-with-zeros view as CSR.
#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <regex>

#include "io/compressed_file.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"

namespace spdnn::io {

NpyArray read_npy(const fs::path& path) {
  InputFile file(path);
  const std::string bytes = file.read_all();
  auto fail = [&](const std::string& why) -> Error { return Error(Errc::format, fmt::format("{}: {}", file.name(), why)); };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) throw fail("not a .npy file (wrong magic)");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, at;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    at = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw fail("truncated header");
    header_len = 0;
    for (int k = 0; k < 4; ++k) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + k])) << (8 * k);
    at = 12;
  } else {
    throw fail(fmt::format("npy version {} is not supported", major));
  }
  if (bytes.size() < at + header_len) throw fail("truncated header");
  const std::string header = bytes.substr(at, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex(R"('descr'\s*:\s*'([^']*)')")) || m[1] != "<f4")
    throw fail(fmt::format("dtype {} is not supported (little-endian float32 '<f4' only)", m.empty() ? "?" : m[1].str()));
  if (std::regex_search(header, m, std::regex(R"('fortran_order'\s*:\s*True)"))) throw fail("Fortran order is not supported");
  if (!std::regex_search(header, m, std::regex(R"('shape'\s*:\s*\(([^)]*)\))"))) throw fail("no shape in the header");
  NpyArray a;
  // The shape's product is bounded by the data actually there before anything is sized from it (a damaged
  // shape overflowed the product; found by fuzzing).
  const size_t data_bytes = bytes.size() - (at + header_len);
  constexpr uint64_t kMost = UINT64_MAX / sizeof(float);  // past it, the byte count overflows
  uint64_t count = 1;
  bool too_large = false;
  const std::string dims = m[1];
  static const std::regex number(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
    uint64_t d = 0;
    const std::string text = it->str();
    if (std::from_chars(text.data(), text.data() + text.size(), d).ec != std::errc() || d > uint64_t{INT64_MAX})
      throw fail(fmt::format("dimension {} is too large", printable(text.substr(0, 40))));
    a.shape.push_back(static_cast<int64_t>(d));
    if (d != 0 && count > kMost / d) too_large = true;
    else count *= d;
  }
  if (too_large || count * sizeof(float) != data_bytes)
    throw fail(fmt::format("{} data bytes, the shape needs {}", data_bytes,
                           too_large ? std::string("more") : std::to_string(count * sizeof(float))));
  a.data.resize(count);
  if (count > 0) std::memcpy(a.data.data(), bytes.data() + at + header_len, count * sizeof(float));
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(a.data[i])) throw fail(fmt::format("value {} is {}: weights and biases must be finite", i, a.data[i]));
  return a;
}

CsrMatrix npy_to_csr(const NpyArray& a, const std::string& name) {
  if (a.shape.size() != 2)
    throw Error(Errc::mismatch, fmt::format("{}: {} dimensions, expected a 2-D weight matrix", name, a.shape.size()));
  CsrMatrix m;
  m.rows = a.shape[0];
  m.cols = a.shape[1];
  m.row_ptr.assign(1, 0);
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) {
      const float v = a.data[r * m.cols + c];
      if (v != 0.0f) m.col_idx.push_back(static_cast<int32_t>(c)), m.values.push_back(v);
    }
    m.row_ptr.push_back(m.nnz());
  }
  return m;
}

}  // namespace spdnn::io
