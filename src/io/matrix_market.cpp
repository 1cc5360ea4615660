// MatrixMarket coordinate files (real or pattern, general).
#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <sstream>

#include "io/compressed_file.hpp"
#include "io/line_parser.hpp"
#include "spdnn/error.hpp"
#include "spdnn/matrix_io.hpp"

namespace spdnn::io {

CsrMatrix read_matrix_market(const fs::path& path, float pattern_value) {
  InputFile file(path);
  // The header (banner, comments, size line) is read from the first block; the rest goes to the
  // parallel parser as a prefix.
  std::string head(1 << 16, '\0');
  head.resize(file.read(head.data(), head.size()));
  size_t pos = 0;
  int64_t line = 0;
  auto next_line = [&]() -> std::string {
    size_t nl = head.find('\n', pos);
    if (nl == std::string::npos)
      throw Error(Errc::format, fmt::format("{}:{}: header incomplete", file.name(), line + 1));
    std::string s = head.substr(pos, nl - pos);
    pos = nl + 1;
    ++line;
    return s;
  };
  std::string banner = next_line();
  std::string lower = banner;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::istringstream bs(lower);
  std::string tag, object, format, field, symmetry;
  bs >> tag >> object >> format >> field >> symmetry;
  if (tag != "%%matrixmarket" || object != "matrix" || format != "coordinate")
    throw Error(Errc::format, fmt::format("{}:1: not a MatrixMarket coordinate matrix", file.name()));
  if (field != "real" && field != "pattern" && field != "integer")
    throw Error(Errc::unsupported, fmt::format("{}:1: field '{}' is not supported (real, integer, pattern)", file.name(), printable(field)));
  if (symmetry != "general")
    throw Error(Errc::unsupported, fmt::format("{}:1: symmetry '{}' is not supported (general)", file.name(), printable(symmetry)));
  std::string size_line;
  do size_line = next_line();
  while (size_line.empty() || size_line[0] == '%');
  int64_t rows = 0, cols = 0, nnz = 0;
  {
    std::string err;
    FieldCursor f(size_line.data(), size_line.data() + size_line.size());
    if (!f.next_uint(rows, 1, 3, err) || !f.next_uint(cols, 2, 3, err) || !f.next_uint(nnz, 3, 3, err) ||
        !f.finish(3, err))
      throw Error(Errc::format, fmt::format("{}:{}: size line: {}", file.name(), line, err));
    if (rows > INT32_MAX || cols > INT32_MAX)
      throw Error(Errc::unsupported, fmt::format("{}:{}: {} x {} exceeds 32-bit indices", file.name(), line, rows, cols));
    if (rows > kMaxFileRows)
      throw Error(Errc::unsupported, fmt::format("{}:{}: {} rows: spdnn reads at most {} rows from a file", file.name(), line,
                                                 rows, kMaxFileRows));
  }
  const bool pattern = field == "pattern";
  const int nfields = pattern ? 2 : 3;
  ParseOptions opt;
  opt.skip_lines = line;
  opt.prefix = std::string_view(head).substr(pos);
  auto entries = parse_lines<Triplet>(
      file,
      [&](const char* b, const char* e, Triplet& t, std::string& err) {
        FieldCursor f(b, e);
        int64_t r = 0, c = 0;
        float v = pattern_value;
        if (!f.next_uint(r, 1, nfields, err) || !f.next_uint(c, 2, nfields, err)) return false;
        if (!pattern && !f.next_float(v, 3, nfields, err)) return false;
        if (!f.finish(nfields, err) || !check_index(r, rows, "row", err) || !check_index(c, cols, "column", err))
          return false;
        t = {static_cast<int32_t>(r - 1), static_cast<int32_t>(c - 1), v};
        return true;
      },
      '%', opt);
  if (static_cast<int64_t>(entries.size()) != nnz)
    throw Error(Errc::format, fmt::format("{}: header declares {} entries, file has {}", file.name(), nnz, entries.size()));
  return csr_from_triplets(rows, cols, std::move(entries), file.name());
}

void write_matrix_market(const fs::path& path, const CsrMatrix& m, bool pattern) {
  OutputFile out(path);
  fmt::memory_buffer buf;
  fmt::format_to(std::back_inserter(buf), "%%MatrixMarket matrix coordinate {} general\n{} {} {}\n",
                 pattern ? "pattern" : "real", m.rows, m.cols, m.nnz());
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t p = m.row_ptr[r]; p < m.row_ptr[r + 1]; ++p) {
      if (pattern) {
        fmt::format_to(std::back_inserter(buf), "{} {}\n", r + 1, int64_t{m.col_idx[p]} + 1);
      } else {  // shortest round-trip representation: reading back gives the same float
        fmt::format_to(std::back_inserter(buf), "{} {} {}\n", r + 1, int64_t{m.col_idx[p]} + 1, m.values[p]);
      }
    }
    if (buf.size() > (8 << 20)) out.write(buf.data(), buf.size()), buf.clear();
  }
  out.write(buf.data(), buf.size());
  out.close();
}

}  // namespace spdnn::io
