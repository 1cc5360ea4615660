// DLMC .smtx sparsity patterns, with seeded weight values (the files have none).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "core/rng.hpp"
#include "io/compressed_file.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/weights.hpp"

namespace spdnn::io {

namespace {

// The integers of one line (separated by spaces, tabs or commas).
std::vector<int64_t> integers(std::string_view line, const std::string& file, int line_no) {
  std::vector<int64_t> out;
  const char* p = line.data();
  const char* end = p + line.size();
  while (p < end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r')) ++p;
    if (p == end) break;
    int64_t v = 0;
    auto [q, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || v < 0) {
      const char* stop = p;
      while (stop < end && *stop != ' ' && *stop != ',' && *stop != '\t') ++stop;
      throw Error(Errc::format, fmt::format("{}:{}: '{}' is not a non-negative integer", file, line_no,
                                            printable(std::string_view(p, std::min<size_t>(stop - p, 40)))));
    }
    out.push_back(v);
    p = q;
  }
  return out;
}

}  // namespace

CsrMatrix read_smtx(const fs::path& path, uint64_t seed) {
  InputFile file(path);
  const std::string text = file.read_all();
  std::vector<std::string_view> lines;
  for (size_t at = 0; at < text.size();) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos) nl = text.size();
    lines.emplace_back(text.data() + at, nl - at);
    at = nl + 1;
  }
  while (!lines.empty() && lines.back().find_first_not_of(" \t\r") == std::string_view::npos) lines.pop_back();
  if (lines.size() != 3)
    throw Error(Errc::format, fmt::format("{}: {} lines, expected 3 (sizes, row offsets, column indices)", file.name(), lines.size()));
  const auto head = integers(lines[0], file.name(), 1);
  if (head.size() != 3) throw Error(Errc::format, fmt::format("{}:1: expected 'rows, cols, nnz'", file.name()));
  const int64_t rows = head[0], cols = head[1], nnz = head[2];
  if (rows > INT32_MAX || cols > INT32_MAX) throw Error(Errc::unsupported, fmt::format("{}:1: too large", file.name()));
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr = integers(lines[1], file.name(), 2);
  if (static_cast<int64_t>(m.row_ptr.size()) != rows + 1)
    throw Error(Errc::format, fmt::format("{}:2: {} row offsets, expected rows + 1 = {}", file.name(), m.row_ptr.size(), rows + 1));
  if (m.row_ptr.front() != 0 || m.row_ptr.back() != nnz)
    throw Error(Errc::format, fmt::format("{}:2: offsets must run from 0 to nnz = {}", file.name(), nnz));
  for (int64_t r = 0; r < rows; ++r)
    if (m.row_ptr[r + 1] < m.row_ptr[r]) throw Error(Errc::format, fmt::format("{}:2: offsets decrease at row {}", file.name(), r + 1));
  const auto cols_read = integers(lines[2], file.name(), 3);
  if (static_cast<int64_t>(cols_read.size()) != nnz)
    throw Error(Errc::format, fmt::format("{}:3: {} column indices, expected nnz = {}", file.name(), cols_read.size(), nnz));
  gen::Rng rng(seed);
  m.col_idx.resize(nnz);
  m.values.resize(nnz);
  for (int64_t p = 0; p < nnz; ++p) {
    if (cols_read[p] >= cols)
      throw Error(Errc::range, fmt::format("{}:3: column index {} out of range [0, {})", file.name(), cols_read[p], cols));
    m.col_idx[p] = static_cast<int32_t>(cols_read[p]);
    const float magnitude = static_cast<float>(256 + rng.below(768)) / 1024.0f;  // exact in fp16
    m.values[p] = rng.below(2) ? magnitude : -magnitude;
  }
  // Columns ascend within a row in spdnn's CSR.
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<std::pair<int32_t, float>> row;
    for (int64_t p = m.row_ptr[r]; p < m.row_ptr[r + 1]; ++p) row.emplace_back(m.col_idx[p], m.values[p]);
    std::sort(row.begin(), row.end());
    for (size_t k = 0; k < row.size(); ++k) {
      if (k > 0 && row[k].first == row[k - 1].first)
        throw Error(Errc::format, fmt::format("{}:3: column {} twice in row {}", file.name(), row[k].first, r + 1));
      m.col_idx[m.row_ptr[r] + k] = row[k].first, m.values[m.row_ptr[r] + k] = row[k].second;
    }
  }
  return m;
}

}  // namespace spdnn::io
