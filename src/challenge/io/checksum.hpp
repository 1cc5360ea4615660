// A fast 64-bit checksum for the binary cache (four independent multiply-rotate lanes, like xxHash64's
// inner loop, so it runs at memory speed). Detects corruption and truncation; not cryptographic.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace spdnn::io {

class Checksum {
 public:
  // `n` must be a multiple of 32 bytes (cache sections are padded to 64), so lanes stay aligned.
  void update(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    uint64_t a = lane_[0], b = lane_[1], c = lane_[2], d = lane_[3];
    for (size_t i = 0; i + 32 <= n; i += 32) {
      a = round(a, load(p + i));
      b = round(b, load(p + i + 8));
      c = round(c, load(p + i + 16));
      d = round(d, load(p + i + 24));
    }
    lane_[0] = a, lane_[1] = b, lane_[2] = c, lane_[3] = d;
    bytes_ += n;
  }
  uint64_t value() const {
    uint64_t h = std::rotl(lane_[0], 1) + std::rotl(lane_[1], 7) + std::rotl(lane_[2], 12) +
                 std::rotl(lane_[3], 18) + bytes_;
    h ^= h >> 33, h *= kP2, h ^= h >> 29, h *= kP3, h ^= h >> 32;
    return h;
  }

 private:
  static constexpr uint64_t kP1 = 0x9E3779B185EBCA87ull, kP2 = 0xC2B2AE3D27D4EB4Full,
                            kP3 = 0x165667B19E3779F9ull;
  static uint64_t load(const unsigned char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  static uint64_t round(uint64_t acc, uint64_t w) { return std::rotl(acc + w * kP2, 31) * kP1; }
  uint64_t lane_[4] = {kP1 + kP2, kP2, 0, 0 - kP1};
  uint64_t bytes_ = 0;
};

}  // namespace spdnn::io
