// When fused multiply-adds give the CPU engines' bits (exact_products.hpp), checked on the CPU: the
// predicate against hand-computed cases, and its promise against an fp64 model of both roundings.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "challenge/cuda/exact_products.hpp"
#include "core/rng.hpp"

namespace spdnn::cuda {

TEST(ExactProducts, PowersOfTwoOnlyAndTheirExponentRange) {
  const auto e = power_of_two_exponents(std::vector<float>{0.0625f, -0.125f, 0.0f, 4.0f});
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->min, -4);
  EXPECT_EQ(e->max, 2);
  EXPECT_FALSE(power_of_two_exponents(std::vector<float>{0.0625f, 0.1f}));
  EXPECT_FALSE(power_of_two_exponents(std::vector<float>{0.0625f, 3.0f}));
  EXPECT_FALSE(power_of_two_exponents(std::vector<float>{std::numeric_limits<float>::infinity()}));
  EXPECT_FALSE(power_of_two_exponents(std::vector<float>{std::nanf("")}));
  const auto tiny = power_of_two_exponents(std::vector<float>{std::ldexp(1.0f, -140)});  // subnormal
  ASSERT_TRUE(tiny.has_value());
  EXPECT_EQ(tiny->min, -140);
}

TEST(ExactProducts, InputsMustKeepEveryProductNormal) {
  const WeightExponents sixteenth{-4, -4};
  EXPECT_TRUE(products_exact(sixteenth, std::ldexp(1.0f, -25), 32.0f));   // the challenge, bias -0.3
  EXPECT_TRUE(products_exact(sixteenth, 1.0f, 1.0f));                     // binary first-layer inputs
  EXPECT_TRUE(products_exact(sixteenth, std::ldexp(1.0f, -122), 32.0f));  // x * w = 2^-126: normal
  EXPECT_FALSE(products_exact(sixteenth, std::ldexp(1.0f, -123), 32.0f));
  EXPECT_FALSE(products_exact(sixteenth, 0.0f, 32.0f));  // inputs unknown
  EXPECT_FALSE(products_exact(std::nullopt, 1.0f, 1.0f));
  EXPECT_FALSE(products_exact(WeightExponents{0, 120}, 1.0f, 256.0f));  // 2^128 overflows
  EXPECT_FALSE(products_exact(sixteenth, 1.0f, std::numeric_limits<float>::infinity()));
  EXPECT_TRUE(products_exact(WeightExponents{}, 0.0f, 0.0f));  // no nonzero weight: all products zero
}

TEST(ExactProducts, SmallestOutputIsTheBiasUlp) {
  EXPECT_EQ(smallest_output(-0.3f), std::ldexp(1.0f, -25));
  EXPECT_EQ(smallest_output(-0.45f), std::ldexp(1.0f, -25));
  EXPECT_EQ(smallest_output(-0.25f), std::ldexp(1.0f, -25));  // 0.25 = 2^-2: the spacing above it
  EXPECT_EQ(smallest_output(-2.0f), std::ldexp(1.0f, -22));
  EXPECT_EQ(smallest_output(0.0f), 0.0f);
  EXPECT_EQ(smallest_output(0.3f), 0.0f);
}

// The promise itself, on seeded sums: with power-of-two weights and inputs in the admitted range, the
// fused sum (one rounding a step) equals the engines' (product rounded, then sum rounded), bit for bit,
// and every nonzero output fl(z + b) of a negative bias is at least smallest_output(b).
TEST(ExactProducts, FusedSumsEqualRoundedSumsWhereAdmitted) {
  gen::Rng rng(5);
  const float bias = -0.35f, clip = 32.0f;
  for (int trial = 0; trial < 20000; ++trial) {
    float fused = 0.0f, rounded = 0.0f;
    for (int k = 0; k < 32; ++k) {
      const float x = rng.uniform() < 0.3 ? 0.0f : std::fmin(clip, std::ldexp(static_cast<float>(rng.uniform()), -(k % 20)));
      const float w = std::ldexp(rng.uniform() < 0.5 ? 1.0f : -1.0f, -1 - static_cast<int>(rng.uniform() * 6));
      if (x != 0.0f && !products_exact(WeightExponents{-6, -1}, x, x)) continue;
      fused = std::fma(x, w, fused);
      const volatile float product = x * w;  // rounded on its own, as the engines do
      rounded = rounded + product;
    }
    ASSERT_EQ(fused, rounded) << "trial " << trial;
    const float y = rounded + bias;
    if (y > 0.0f) ASSERT_GE(std::fmin(y, clip), smallest_output(bias)) << "trial " << trial;
  }
}

}  // namespace spdnn::cuda
