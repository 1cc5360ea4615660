// When a layer may multiply-add with one rounding (FMA) and still give the CPU engines' bits.
//
// The engines round every product and every sum: z <- fl(z + fl(x * w)). A fused multiply-add computes
// fl(z + x * w), the same whenever x * w is exact. It is exact when w = +-2^e (the product only moves x's
// exponent) and no nonzero |x| is so small that x * 2^e falls below the normal range, or so large that
// it overflows. Which inputs can occur is known without seeing them: after a layer with bias b < 0, a
// nonzero output x = fl(z + b) has z >= |b|, so z and b are both multiples of ulp(b) and x >= ulp(b); and
// x <= clip. (With b >= 0 an output can be as small as the inputs, so nothing is assumed.) The first
// layer's inputs are known on the host. The challenge's weights are all 1/16: the kernel then issues
// half the arithmetic instructions, for the same bits. Host-only, so it is tested on the CPU.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace spdnn::cuda {

// The range of binary exponents of a layer's nonzero weights (floats, or any type that converts to float),
// when every one is +-2^e; nullopt otherwise.
struct WeightExponents {
  int min = std::numeric_limits<int>::max(), max = std::numeric_limits<int>::min();
};

template <class Range>
std::optional<WeightExponents> power_of_two_exponents(const Range& weights) {
  WeightExponents e;
  for (const auto& value : weights) {
    const float w = static_cast<float>(value);
    if (w == 0.0f) continue;  // padding
    int exponent = 0;
    if (!std::isfinite(w) || std::fabs(std::frexp(w, &exponent)) != 0.5f) return std::nullopt;
    e.min = std::min(e.min, exponent - 1), e.max = std::max(e.max, exponent - 1);  // |w| = 2^(exponent - 1)
  }
  return e;
}

// Whether x * w is exact for every weight of exponents `e` and every nonzero x with min_input <= |x| <=
// max_input (so that products stay normal: above 2^-126, below 2^128).
inline bool products_exact(const std::optional<WeightExponents>& e, float min_input, float max_input) {
  if (!e) return false;
  if (e->min > e->max) return true;  // no nonzero weight: every product is zero
  if (!(min_input > 0.0f) || !std::isfinite(max_input) || min_input > max_input) return false;
  return std::ilogb(min_input) + e->min >= std::numeric_limits<float>::min_exponent - 1 &&
         std::ilogb(max_input) + e->max < std::numeric_limits<float>::max_exponent - 1;
}

// The smallest nonzero output of a layer with this bias (see above): ulp(|b|) for b < 0, else 0 (unknown).
inline float smallest_output(float bias) {
  if (!(bias < 0.0f) || !std::isfinite(bias)) return 0.0f;
  return std::nextafter(-bias, std::numeric_limits<float>::infinity()) - (-bias);
}

}  // namespace spdnn::cuda
