// spdnn's one error type: a one-line message naming the file and line (or the resource), plus a kind.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace spdnn {

enum class Errc {
  io,             // a file could not be opened, read or written
  format,         // malformed content: field count, non-numeric field, corrupt gzip, bad cache header
  range,          // an index out of range (0, or larger than the declared size)
  mismatch,       // inconsistent sizes between parts of one problem
  unsupported,    // a valid request this build or engine cannot serve
  out_of_memory,  // host or device memory exhausted; the message names the allocation
  device,         // any other accelerator failure
  usage,          // bad combination of options
};

// Library code throws Error; only main() prints it (one line) and picks the exit code.
class Error : public std::runtime_error {
 public:
  Error(Errc code, const std::string& message) : std::runtime_error(message), code_(code) {}
  Errc code() const noexcept { return code_; }

 private:
  Errc code_;
};

// `text` safe to print in a one-line message: bytes outside printable ASCII (control characters, a binary
// file's bytes) are written as \xNN.
inline std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f) {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace spdnn
