// The challenge's TSV files: layers, images, categories.
#include <algorithm>
#include <charconv>
#include <fmt/format.h>

#include "io/compressed_file.hpp"
#include "io/line_parser.hpp"
#include "spdnn/error.hpp"
#include "spdnn/challenge/io.hpp"

namespace spdnn::io {

namespace {

// `row col value` with both indices checked against their bounds; stored 0-based.
auto triplet_parser(int64_t max_row, int64_t max_col, const char* row_name, const char* col_name) {
  return [=](const char* b, const char* e, Triplet& t, std::string& err) {
    FieldCursor f(b, e);
    int64_t r = 0, c = 0;
    float v = 0.0f;
    if (!f.next_uint(r, 1, 3, err) || !f.next_uint(c, 2, 3, err) || !f.next_float(v, 3, 3, err) ||
        !f.finish(3, err))
      return false;
    if (!check_index(r, max_row, row_name, err) || !check_index(c, max_col, col_name, err)) return false;
    t = {static_cast<int32_t>(r - 1), static_cast<int32_t>(c - 1), v};
    return true;
  };
}

// Formats like C's %.6e (the official files' 6.250000e-02) when that reads back as the same float,
// and with the 9 significant digits that always do otherwise, so every file round-trips exactly.
void append_sci(fmt::memory_buffer& buf, float v) {
  char tmp[32];
  auto end = fmt::format_to(tmp, "{:.6e}", v);
  float back = 0.0f;
  std::from_chars(tmp, end, back);
  if (back == v) buf.append(tmp, end);
  else fmt::format_to(std::back_inserter(buf), "{:.8e}", v);
}

constexpr size_t kFlushBytes = 8 << 20;

}  // namespace

CsrMatrix read_layer_tsv(const fs::path& path, int32_t neurons) {
  InputFile file(path);
  auto entries = parse_lines<Triplet>(file, triplet_parser(neurons, neurons, "row", "column"));
  // An empty file is an interrupted copy or a wrong path far more often than a layer meant to kill every
  // input (which would leave no category at all), so it is refused rather than run.
  if (entries.empty())
    throw Error(Errc::format, fmt::format("{}: no entries: a layer file holds `row<TAB>col<TAB>value` lines", file.name()));
  return csr_from_triplets(neurons, neurons, std::move(entries), file.name());
}

void write_layer_tsv(const fs::path& path, const CsrMatrix& layer) {
  // Official order: by column, then row. The transpose's rows are the columns, rows ascending.
  CsrMatrix t = transpose(layer);
  OutputFile out(path);
  fmt::memory_buffer buf;
  for (int64_t c = 0; c < t.rows; ++c) {
    for (int64_t p = t.row_ptr[c]; p < t.row_ptr[c + 1]; ++p) {
      fmt::format_to(std::back_inserter(buf), "{}\t{}\t", int64_t{t.col_idx[p]} + 1, c + 1);
      append_sci(buf, t.values[p]);
      buf.push_back('\n');
    }
    if (buf.size() > kFlushBytes) out.write(buf.data(), buf.size()), buf.clear();
  }
  out.write(buf.data(), buf.size());
  out.close();
}

Features read_images_tsv(const fs::path& path, int32_t neurons, int64_t count) {
  InputFile file(path);
  const int64_t max_image = count > 0 ? count : kMaxFileRows;
  auto entries = parse_lines<Triplet>(file, triplet_parser(max_image, neurons, "image", "neuron"));
  if (count == 0) {
    for (const Triplet& t : entries) count = std::max<int64_t>(count, int64_t{t.row} + 1);
  }
  Features x;
  x.matrix = csr_from_triplets(count, neurons, std::move(entries), file.name());
  return x;
}

void write_images_tsv(const fs::path& path, const Features& x) {
  OutputFile out(path);
  fmt::memory_buffer buf;
  const CsrMatrix& m = x.matrix;
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t p = m.row_ptr[r]; p < m.row_ptr[r + 1]; ++p)
      fmt::format_to(std::back_inserter(buf), "{}\t{}\t{}\n", r + 1, int64_t{m.col_idx[p]} + 1, m.values[p]);
    if (buf.size() > kFlushBytes) out.write(buf.data(), buf.size()), buf.clear();
  }
  out.write(buf.data(), buf.size());
  out.close();
}

std::vector<int64_t> read_categories(const fs::path& path) {
  InputFile file(path);
  auto ids = parse_lines<int64_t>(file, [](const char* b, const char* e, int64_t& id, std::string& err) {
    FieldCursor f(b, e);
    return f.next_uint(id, 1, 1, err) && f.finish(1, err) && check_index(id, int64_t{1} << 40, "category", err);
  });
  std::sort(ids.begin(), ids.end());
  if (auto dup = std::adjacent_find(ids.begin(), ids.end()); dup != ids.end())
    throw Error(Errc::format, fmt::format("{}: category {} listed twice", file.name(), *dup));
  return ids;
}

void write_categories(const fs::path& path, const std::vector<int64_t>& ids) {
  OutputFile out(path);
  fmt::memory_buffer buf;
  for (int64_t id : ids) fmt::format_to(std::back_inserter(buf), "{}\n", id);
  out.write(buf.data(), buf.size());
  out.close();
}

}  // namespace spdnn::io
