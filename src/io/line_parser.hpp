// Parallel parsing of line-oriented text files (TSV, MatrixMarket bodies). Internal to src/io.
//
// The file is read in large blocks; each block is cut at line ends into one piece per thread and the
// pieces are parsed concurrently, so text parsing runs at a multiple of one core's speed. A line
// parser returns an error string (empty when the line is good); the first bad line in file order
// becomes Error(format or range) "FILE:LINE: message".
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include "core/parallel_errors.hpp"
#include "io/compressed_file.hpp"
#include "spdnn/error.hpp"

namespace spdnn::io {

// A cursor over the fields of one line. Fields are separated by tabs or spaces.
class FieldCursor {
 public:
  FieldCursor(const char* begin, const char* end) : p_(begin), end_(end) {}

  // Parses the next field as a non-negative integer. On failure returns false and sets `error`.
  bool next_uint(int64_t& value, int field, int expected, std::string& error) {
    if (!skip_to_field(field, expected, error)) return false;
    const char* start = p_;
    uint64_t v = 0;
    while (p_ < end_ && static_cast<unsigned>(*p_ - '0') < 10u) {
      v = v * 10 + static_cast<unsigned>(*p_ - '0');
      ++p_;
      if (v > (uint64_t{1} << 62)) return fail_number(start, field, error, "too large");
    }
    if (p_ == start || !at_separator()) return fail_number(start, field, error, "not a non-negative integer");
    value = static_cast<int64_t>(v);
    return true;
  }

  bool next_float(float& value, int field, int expected, std::string& error) {
    if (!skip_to_field(field, expected, error)) return false;
    const char* start = p_;
    if (p_ < end_ && *p_ == '+') ++p_;  // from_chars rejects a leading '+', text files may have it
    auto [ptr, ec] = std::from_chars(p_, end_, value);
    if (ec != std::errc() || (p_ = ptr, !at_separator())) return fail_number(start, field, error, "not a number");
    // NaN and infinity parse, but no network or input holds them: they would silently change the answer.
    if (!std::isfinite(value)) return fail_number(start, field, error, "not a finite number");
    return true;
  }

  // True when only blanks remain; otherwise sets `error` (too many fields).
  bool finish(int expected, std::string& error) {
    skip_blanks();
    if (p_ == end_) return true;
    error = fmt::format("expected {} field{}, found more", expected, expected == 1 ? "" : "s");
    return false;
  }

 private:
  void skip_blanks() {
    while (p_ < end_ && (*p_ == '\t' || *p_ == ' ' || *p_ == '\r')) ++p_;
  }
  bool at_separator() const { return p_ == end_ || *p_ == '\t' || *p_ == ' ' || *p_ == '\r'; }
  bool skip_to_field(int field, int expected, std::string& error) {
    skip_blanks();
    if (p_ < end_) return true;
    error = fmt::format("expected {} field{}, found {}", expected, expected == 1 ? "" : "s", field - 1);
    return false;
  }
  bool fail_number(const char* start, int field, std::string& error, const char* what) {
    const char* stop = start;
    while (stop < end_ && *stop != '\t' && *stop != ' ' && *stop != '\r') ++stop;
    std::string_view text(start, std::min<size_t>(stop - start, 40));
    error = fmt::format("field {}: '{}' is {}", field, printable(text), what);
    return false;
  }

  const char* p_;
  const char* end_;
};

// The most rows a reader sizes from a file's own say (an image id, a MatrixMarket size line): CSR keeps an
// 8-byte offset per row, so one damaged number would otherwise ask for up to 16 GB (found by fuzzing).
// The challenge has 60000 inputs; 2^26 rows take 512 MB of offsets.
inline constexpr int64_t kMaxFileRows = int64_t{1} << 26;

// The range check every index reader shares: 1-based index in [1, max].
inline bool check_index(int64_t v, int64_t max, const char* what, std::string& error) {
  if (v >= 1 && v <= max) return true;
  error = fmt::format("{} index {} out of range [1, {}]", what, v, max);
  return false;
}

// A growable byte buffer that does not zero its contents.
class Block {
 public:
  explicit Block(size_t n) : data_(std::make_unique_for_overwrite<char[]>(n)), size_(n) {}
  char* data() { return data_.get(); }
  size_t size() const { return size_; }
  void resize(size_t n) {
    auto bigger = std::make_unique_for_overwrite<char[]>(n);
    std::memcpy(bigger.get(), data_.get(), std::min(n, size_));
    data_ = std::move(bigger);
    size_ = n;
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_;
};

struct ParseOptions {
  int64_t skip_lines = 0;       // leading lines consumed by the caller (e.g. a MatrixMarket header)
  std::string_view prefix;      // bytes the caller read past those lines: parsed before the rest
  size_t block_bytes = 16 << 20;
};

// Parses every non-blank line of `file` with `parse_line(const char* b, const char* e, Record& out,
// std::string& error) -> bool`, in file order. Lines starting with `comment` (if nonzero) are skipped.
template <class Record, class ParseLine>
std::vector<Record> parse_lines(InputFile& file, ParseLine parse_line, char comment = 0,
                                ParseOptions opt = {}) {
  struct Piece {
    const char* begin;
    const char* end;
    std::vector<Record> out;
    int64_t lines = 0;       // lines fully parsed
    std::string error;       // first error of this piece
  };
  std::vector<Record> result;
  // Uninitialized on purpose: zero-filling a large block per small file costs more than parsing it.
  Block block(std::max(opt.block_bytes, opt.prefix.size() * 2));
  if (!opt.prefix.empty()) std::memcpy(block.data(), opt.prefix.data(), opt.prefix.size());
  size_t carried = opt.prefix.size();  // bytes of an unfinished line kept at the front of `block`
  int64_t line_base = opt.skip_lines;
  const int threads = std::max(1, omp_get_max_threads());
  bool eof = false;
  while (!eof) {
    if (carried == block.size()) block.resize(block.size() * 2);  // a line longer than a block
    size_t got = file.read(block.data() + carried, block.size() - carried);
    eof = got == 0;
    size_t filled = carried + got;
    if (filled == 0) break;
    // Parse up to the last line end; at EOF the final line may lack one.
    size_t usable = filled;
    if (!eof) {
      const char* last = static_cast<const char*>(memrchr(block.data(), '\n', filled));
      if (last == nullptr) {
        carried = filled;
        continue;
      }
      usable = static_cast<size_t>(last - block.data()) + 1;
    }
    // Cut [0, usable) into pieces at line ends.
    int npieces = usable < (1u << 20) ? 1 : threads;
    std::vector<Piece> pieces(npieces);
    const char* cursor = block.data();
    const char* stop = block.data() + usable;
    for (int i = 0; i < npieces; ++i) {
      const char* end = i + 1 == npieces ? stop : block.data() + usable * (i + 1) / npieces;
      if (end < cursor) end = cursor;
      if (end < stop) {
        const char* nl = static_cast<const char*>(std::memchr(end, '\n', stop - end));
        end = nl == nullptr ? stop : nl + 1;
      }
      pieces[i].begin = cursor;
      pieces[i].end = end;
      cursor = end;
    }
    ParallelErrors errors(static_cast<size_t>(npieces));
#pragma omp parallel for schedule(static, 1) num_threads(npieces) if (npieces > 1)
    for (int i = 0; i < npieces; ++i) errors.run(i, [&] {
      Piece& pc = pieces[i];
      pc.out.reserve(static_cast<size_t>(pc.end - pc.begin) / 16);
      const char* p = pc.begin;
      while (p < pc.end) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', pc.end - p));
        const char* e = nl == nullptr ? pc.end : nl;
        const char* q = p;
        while (q < e && (*q == ' ' || *q == '\t' || *q == '\r')) ++q;
        if (q < e && *q != comment) {
          Record r{};
          if (!parse_line(p, e, r, pc.error)) break;
          pc.out.push_back(r);
        }
        ++pc.lines;
        p = nl == nullptr ? pc.end : nl + 1;
      }
    });
    errors.rethrow();
    for (Piece& pc : pieces) {
      if (!pc.error.empty()) {
        Errc code = pc.error.find("out of range") != std::string::npos ? Errc::range : Errc::format;
        throw Error(code, fmt::format("{}:{}: {}", file.name(), line_base + pc.lines + 1, pc.error));
      }
      line_base += pc.lines;
      if (result.empty()) {
        result = std::move(pc.out);
      } else {
        result.insert(result.end(), pc.out.begin(), pc.out.end());
      }
    }
    carried = filled - usable;
    std::memmove(block.data(), block.data() + usable, carried);
  }
  return result;
}

}  // namespace spdnn::io
