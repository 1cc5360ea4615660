// The sparse convolution's emitted kernel, on the CPU: its text (one guarded load per distinct filter
// column of a group, exact weights), its meaning (the emitted statements interpreted for every output
// pixel equal the float64 direct convolution), its errors, and (CUDA builds) that NVRTC compiles it.
#include <gtest/gtest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <sstream>

#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/emit_conv2d.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#include "support/ptx_interpreter.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"
#ifdef SPDNN_HAVE_CUDA
#include "sparse/codegen/module_store.hpp"
#include "sparse/codegen/nvrtc_compiler.hpp"
#endif

namespace spdnn::codegen {
namespace {

// A group (or slice, slice >= 0) function written as inline PTX, for one thread item: its statement run by
// the PTX interpreter with X, the zeros, Y and the partial sums at distinct made-up addresses (the
// operands: xj, zeros, yj or part, h0, w0, lanes), stores to Y written there and partial sums to `parts`.
void run_ptx(const std::string& function, int64_t slice, int64_t image, int64_t xj, int64_t yj, int64_t h0, int64_t w0,
             const std::vector<float>& x, std::vector<float>* y, std::map<int64_t, std::map<int64_t, float>>* parts) {
  (void)image;
  constexpr int64_t kX = int64_t{1} << 40, kZeros = int64_t{2} << 40, kY = int64_t{3} << 40, kPart = int64_t{4} << 40;
  constexpr int64_t kLanes = 96;  // any: the stride between a thread's partial sums
  test::PtxMachine ptx;
  ptx.operands = {kX + 4 * xj, kZeros, slice >= 0 ? kPart : kY + 4 * yj, h0, w0, kLanes};
  ptx.load = [&](int64_t at) -> float {
    if (at >= kX && at < kX + 4 * static_cast<int64_t>(x.size())) return x[static_cast<size_t>((at - kX) / 4)];
    EXPECT_TRUE(at >= kZeros && at < kY) << "a load from neither X nor the zeros";
    return 0.0f;
  };
  ptx.store = [&](int64_t at, float value) {
    if (slice >= 0) {
      EXPECT_EQ((at - kPart) % (4 * kLanes), 0) << "partial sums lie lanes apart";
      (*parts)[slice][(at - kPart) / (4 * kLanes)] = value;
      return;
    }
    const int64_t i = (at - kY) / 4;
    ASSERT_TRUE(at >= kY && i < static_cast<int64_t>(y->size())) << "a store outside Y";
    (*y)[static_cast<size_t>(i)] = value;
  };
  std::vector<std::string> lines;
  std::istringstream in(function.substr(function.find("asm volatile(")));
  for (std::string line; std::getline(in, line) && line.rfind("  ::", 0) != 0;)
    if (!line.empty() && line[0] == '"') lines.push_back(line);
  ptx.run(lines);
}

// Runs the emitted source on the CPU for every thread item (B = `outputs` vertically adjacent output pixels),
// statement by statement: the kernel's corner (h0, w0 from its stride and padding), each group's bounds
// tests, base pointers (the corner or the zeros), loads, multiply-adds (fused, as __fmaf_rn), bias, ReLU and guarded stores; with K split,
// each slice's partial sums and the finish that adds them in slice order (float adds, left to right). Only
// the statement forms the emitter writes are understood; anything else in a function is a test failure.
std::vector<float> interpret(const std::string& src, const Conv2dShape& s, const std::vector<float>& x, bool relu,
                             int outputs = 1) {
  const int64_t P = s.out_height(), Q = s.out_width(), B = outputs;
  std::smatch m;
  const std::regex corner(R"(h0 = static_cast<int>\(pq / (\d+)u\) \* (\d+) - (\d+), w0 = static_cast<int>\(pq % \d+u\) \* (\d+) - \d+;)");
  EXPECT_TRUE(std::regex_search(src, m, corner)) << "the kernel's corner";
  const int64_t q_count = std::stoll(m[1]), row_step = std::stoll(m[2]), padding = std::stoll(m[3]), stride = std::stoll(m[4]);
  EXPECT_EQ(q_count, Q);
  EXPECT_EQ(row_step, B * stride) << "B output rows a thread";
  const std::regex header(R"(void (group|finish)(\d+)(?:_(\d+))?\()");
  const std::regex bound(R"(const bool (row|col)_ok(\d+) = static_cast<unsigned>\([hw]0 \+ (\d+)\) < (\d+)u;)");
  const std::regex base(R"(const float\* __restrict__ (base\d+_\d+) = row_ok(\d+) && col_ok(\d+) \? xj \+ (\d+) : zeros;)");
  const std::regex load(R"(const float (x\d+_\d+_\d+) = __ldg\((base\d+_\d+) \+ (\d+)\);)");
  const std::regex fma(R"(a(\d+_\d+) = __fmaf_rn\((x\d+_\d+_\d+), ([-0-9a-fx.p+]+)f, a\d+_\d+\);)");
  const std::regex store(
      R"(const float b = ([-0-9a-fx.p+]+)f; a(\d+_\d+) = act\(__fadd_rn\(a\d+_\d+, b\)\);(?: if \(h0 < (-?\d+)\))? yj\[(\d+)ull\] = a\d+_\d+;)");
  const std::regex part_store(R"(part\[(\d+) \* lanes\] = a(\d+)_(\d+);)");
  const std::regex part_sum(R"(float a(\d+)_(\d+) = p0\[(\d+) \* lanes\]((?: \+ p\d+\[\d+ \* lanes\])*);)");
  const std::regex part_term(R"(p(\d+)\[(\d+) )");
  std::vector<float> y(static_cast<size_t>(s.output_size()), std::nanf(""));
  // The functions, in order: groups (or a group's slices, then its finish) and their statements.
  std::vector<std::string> functions;
  for (size_t at = src.find("void "); at != std::string::npos; at = src.find("void ", at + 1))
    if (src.compare(at, 10, "void group") == 0 || src.compare(at, 11, "void finish") == 0)
      functions.push_back(src.substr(at, src.find("\n}\n", at) - at));
  const int64_t row_blocks = (P + B - 1) / B;
  for (int64_t image = 0; image < s.batch; ++image)
    for (int64_t item = 0; item < row_blocks * Q; ++item) {
      const int64_t p0 = item / Q * B, q = item % Q, h0 = p0 * stride - padding, w0 = q * stride - padding;
      const int64_t xj = image * s.channels * s.height * s.width + h0 * s.width + w0;
      const int64_t yj = image * s.out_channels * P * Q + p0 * Q + q;
      std::map<int64_t, std::map<int64_t, float>> parts;  // slice -> place -> partial sum, of the current group
      for (const std::string& function : functions) {
        EXPECT_TRUE(std::regex_search(function, m, header)) << function.substr(0, 80);
        const bool finish = m[1] == "finish";
        const int64_t slice = m[3].matched ? std::stoll(m[3]) : -1;
        if (function.find("asm volatile(") != std::string::npos) {  // inline PTX (emit_conv2d_ptx.hpp)
          run_ptx(function, slice, image, xj, yj, h0, w0, x, &y, &parts);
          continue;
        }
        std::map<std::string, bool> test;
        std::map<std::string, std::optional<int64_t>> bases;  // offset from the corner, or none: the zeros
        std::map<std::string, float> v, a;
        std::istringstream lines(function);
        for (std::string line; std::getline(lines, line);) {
          if (std::regex_search(line, m, bound)) {
            const int64_t base = m[1] == "row" ? h0 : w0, limit = std::stoll(m[4]);
            test[m[1].str() + m[2].str()] = base + std::stoll(m[3]) >= 0 && base + std::stoll(m[3]) < limit;
          } else if (std::regex_search(line, m, base)) {
            const bool inside = test.at("row" + m[2].str()) && test.at("col" + m[3].str());
            EXPECT_EQ(bases.count(m[1]), 0u) << "declared twice: " << line;
            bases[m[1]] = inside ? std::optional<int64_t>(xj + std::stoll(m[4])) : std::nullopt;
          } else if (std::regex_search(line, m, load)) {
            EXPECT_EQ(v.count(m[1]), 0u) << "loaded twice: " << line;
            const std::optional<int64_t> at = bases.at(m[2]);
            v[m[1]] = at ? x.at(static_cast<size_t>(*at + std::stoll(m[3]))) : 0.0f;
          } else if (line.find("__fmaf_rn") != std::string::npos) {
            for (auto it = std::sregex_iterator(line.begin(), line.end(), fma); it != std::sregex_iterator(); ++it) {
              float& acc = a[(*it)[1]];
              acc = std::fma(v.at((*it)[2]), std::strtof((*it)[3].str().c_str(), nullptr), acc);
            }
          } else if (slice >= 0 && std::regex_search(line, m, part_store)) {
            EXPECT_EQ(std::stoll(m[1]), std::stoll(m[2]) * B + std::stoll(m[3])) << line;
            parts[slice][std::stoll(m[1])] = a[m[2].str() + "_" + m[3].str()];
          } else if (finish && std::regex_search(line, m, part_sum)) {
            const int64_t place = std::stoll(m[3]);
            EXPECT_EQ(place, std::stoll(m[1]) * B + std::stoll(m[2])) << line;
            float sum = parts.at(0).at(place);
            const std::string terms = m[4].str();
            int64_t next = 1;
            for (auto it = std::sregex_iterator(terms.begin(), terms.end(), part_term); it != std::sregex_iterator(); ++it) {
              EXPECT_EQ(std::stoll((*it)[1]), next++) << "slices added in order: " << line;
              EXPECT_EQ(std::stoll((*it)[2]), place) << line;
              sum += parts.at(std::stoll((*it)[1])).at(place);
            }
            a[m[1].str() + "_" + m[2].str()] = sum;
          } else if (std::regex_search(line, m, store)) {
            float r = a[m[2]] + std::strtof(m[1].str().c_str(), nullptr);
            if (relu && r < 0.0f) r = 0.0f;
            const std::string acc = m[2].str();  // a<row of the group>_<output row b>
            const int64_t offset = std::stoll(m[4]), row = p0 + std::stoll(acc.substr(acc.find('_') + 1));
            EXPECT_EQ((offset - (row - p0) * Q) % (P * Q), 0) << "output row b is b rows below the first: " << line;
            const bool stored = !m[3].matched || h0 < std::stoll(m[3]);
            EXPECT_EQ(stored, row < P) << "stores the rows of the image, and only those: " << line;
            if (stored) y.at(static_cast<size_t>(yj + offset)) = r;
          } else if (line.find("float a0_0") == std::string::npos && line.find("void ") == std::string::npos &&
                     !(finish && (line.find("const float* p") != std::string::npos || line.find("if (s == ") != std::string::npos ||
                                  line == "  }"))) {
            ADD_FAILURE() << "a statement the interpreter does not know: " << line;
            return y;
          }
        }
        if (finish) parts.clear();
      }
    }
  return y;
}

struct Case {
  int64_t batch, channels, size, out_channels, kernel, stride, padding, dilation;
  double density;
  int rows;
  int slices = 1;  // K split within a block
  int outputs = 1;  // output rows a thread (cols)
  bool cluster = false;  // K split over a cluster (cluster_slices = slices), not within a block
};

class EmitConv2d : public testing::TestWithParam<Case> {};

TEST_P(EmitConv2d, TheEmittedStatementsComputeTheConvolution) {
  const Case c = GetParam();
  const Conv2dShape s{c.batch, c.channels, c.size, c.size + 2, c.out_channels, c.kernel, c.kernel, c.stride, c.padding, c.dilation};
  const uint32_t seed = static_cast<uint32_t>(c.channels * 7 + c.size * 3 + c.rows);
  const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), c.density, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.input_size())), bias(static_cast<size_t>(s.out_channels));
  for (float& v : x) v = value(rng);
  for (float& b : bias) b = value(rng);
  for (bool ptx : {false, true})
    for (bool relu : {false, true}) {
      const KernelConfig config{.rows = c.rows, .cols = c.outputs, .threads = std::max(128, 32 * c.slices),
                                .cluster_slices = c.cluster ? c.slices : 1, .prefetch = 4,
                                .block_slices = c.cluster ? 1 : c.slices};
      const std::string src = emit_sparse_conv2d(w, bias, relu, s, config, ptx);
      EXPECT_EQ(src.find("asm volatile(\n") != std::string::npos, ptx) << "inline PTX where asked";
      const std::vector<float> y = interpret(src, s, x, relu, c.outputs);
      EXPECT_LE(max_relative_error(y, conv2d_reference(s, w, x, bias, relu)), 1e-5) << to_string(s) << (ptx ? ", PTX" : "");
    }
}

INSTANTIATE_TEST_SUITE_P(OddShapes, EmitConv2d,
                         testing::Values(Case{1, 3, 7, 5, 3, 1, 1, 1, 0.3, 4}, Case{2, 5, 9, 7, 3, 2, 1, 1, 0.2, 3},
                                         Case{1, 4, 1, 3, 3, 1, 1, 1, 0.5, 2}, Case{1, 3, 11, 4, 3, 1, 2, 2, 0.3, 16},
                                         Case{2, 2, 6, 3, 1, 2, 0, 1, 0.6, 1}, Case{1, 3, 5, 2, 3, 1, 1, 1, 0.0, 2},
                                         Case{1, 5, 7, 6, 3, 1, 1, 1, 0.4, 4, 2}, Case{2, 9, 6, 7, 3, 2, 1, 1, 0.3, 3, 4},
                                         Case{1, 2, 5, 3, 3, 1, 1, 2, 0.2, 3, 8}, Case{1, 5, 7, 6, 3, 1, 1, 1, 0.4, 4, 2, 1, true},
                                         Case{2, 9, 6, 7, 3, 2, 1, 1, 0.3, 3, 8, 1, true}));

// B output rows a thread: rows that do not divide P (7 = 3 * 2 + 1, 4 + 3), stride 2, dilation 2, 1 x 1,
// K split with B rows, and a filter of no nonzeros.
INSTANTIATE_TEST_SUITE_P(RowsAThread, EmitConv2d,
                         testing::Values(Case{2, 3, 7, 5, 3, 1, 1, 1, 0.3, 4, 1, 2}, Case{1, 4, 7, 6, 3, 1, 1, 1, 0.4, 8, 1, 4},
                                         Case{2, 5, 9, 7, 3, 2, 1, 1, 0.2, 3, 1, 2}, Case{1, 3, 11, 4, 3, 1, 2, 2, 0.3, 16, 1, 4},
                                         Case{2, 2, 6, 3, 1, 2, 0, 1, 0.6, 1, 1, 2}, Case{1, 3, 5, 2, 3, 1, 1, 1, 0.0, 2, 1, 4},
                                         Case{1, 5, 7, 6, 3, 1, 1, 1, 0.4, 4, 2, 2}, Case{2, 9, 6, 7, 3, 2, 1, 1, 0.3, 3, 4, 4},
                                         Case{2, 9, 6, 7, 3, 2, 1, 1, 0.3, 3, 4, 2, true}));

TEST(EmitConv2dText, OneLoadPerDistinctColumnAndExactWeights) {
  // C = 2, 5 x 7 images; column 15 is (c 1, r 2, s 0): channel 1's plane (35) from the base pointer of
  // (r 2, s 0), which is the corner + 2*7 + 0 = 14 when the tests of row 2 and column 0 pass, else the zeros. Rows 0 and 1 (one group) share it: one load, two multiply-adds.
  Conv2dShape s;
  s.channels = 2, s.height = 5, s.width = 7, s.out_channels = 3, s.padding = 1;
  const CsrMatrix w = csr_from_triplets(3, 18, {{0, 15, 0.75f}, {1, 15, -1.5f}, {1, 4, 2.0f}, {2, 0, 0.125f}}, "w");
  const std::string src = emit_sparse_conv2d(w, {}, false, s, {.rows = 2});
  EXPECT_NE(src.find("const float* __restrict__ base2_0 = row_ok2 && col_ok0 ? xj + 14 : zeros;"), std::string::npos) << src;
  EXPECT_NE(src.find("const float x1_2_0 = __ldg(base2_0 + 35);"), std::string::npos) << src;
  EXPECT_NE(src.find("const float* __restrict__ base1_1 = row_ok1 && col_ok1 ? xj + 8 : zeros;"), std::string::npos) << src;
  EXPECT_NE(src.find("const float x0_1_1 = __ldg(base1_1 + 0);"), std::string::npos) << src;
  size_t loads = 0;
  for (size_t p = src.find("__ldg("); p != std::string::npos; p = src.find("__ldg(", p + 1)) ++loads;
  EXPECT_EQ(loads, 3u) << "columns 4 and 15 in group 0, column 0 in group 1";
  for (const char* literal : {"0x1.8p-1f", "-0x1.8p+0f", "0x1p+1f", "0x1p-3f"}) EXPECT_NE(src.find(literal), std::string::npos);
  EXPECT_NE(src.find("yj[35ull]"), std::string::npos) << "out-channel 1 is one 5 x 7 plane after channel 0";
}

TEST(EmitConv2dText, RowsAThreadShareTheirInputRows) {
  // One out-channel with all nine taps of one channel: a thread of B output rows loads the 3 + B - 1 input
  // rows of each tap column once, 3 * (3 + B - 1) loads for 9 * B multiply-adds.
  Conv2dShape s;
  s.channels = 1, s.height = s.width = 8, s.out_channels = 1, s.padding = 1;
  std::vector<Triplet> taps;
  for (int32_t t = 0; t < 9; ++t) taps.push_back({0, t, 0.5f + static_cast<float>(t)});
  const CsrMatrix w = csr_from_triplets(1, 9, taps, "w");
  for (int rows : {1, 2, 4}) {
    const std::string src = emit_sparse_conv2d(w, {}, false, s, {.rows = 1, .cols = rows});
    size_t loads = 0, fmas = 0;
    for (size_t p = src.find("__ldg("); p != std::string::npos; p = src.find("__ldg(", p + 1)) ++loads;
    for (size_t p = src.find("__fmaf_rn("); p != std::string::npos; p = src.find("__fmaf_rn(", p + 1)) ++fmas;
    EXPECT_EQ(loads, 3u * (3 + rows - 1)) << rows;
    EXPECT_EQ(fmas, 9u * rows) << rows;
  }
}

TEST(EmitConv2dText, RejectsWhatItCannotEmit) {
  Conv2dShape s;
  s.channels = 2, s.height = s.width = 4;
  const CsrMatrix w = csr_from_triplets(1, 18, {{0, 3, 1.0f}}, "w");
  EXPECT_EQ(test::error_from([&] { emit_sparse_conv2d(w, {}, false, s, {.rows = 4, .cols = 3}); }).code(), Errc::usage);
  EXPECT_EQ(test::error_from([&] { emit_sparse_conv2d(w, {}, false, s, {.rows = 64, .cluster_slices = 2}); }).code(), Errc::usage);
  EXPECT_EQ(test::error_from([&] { emit_sparse_conv2d(w, {}, false, s, {.rows = 4, .threads = 256, .block_groups = 2}); }).code(),
            Errc::usage);
  EXPECT_EQ(test::error_from([&] { emit_sparse_conv2d(w, {1.0f, 2.0f}, false, s, {.rows = 4}); }).code(), Errc::mismatch);
  Conv2dShape wide = s;
  wide.kernel_h = 9;  // larger than the 4 x 4 image
  EXPECT_EQ(test::error_from([&] { emit_sparse_conv2d(csr_from_triplets(1, 162, {}, "w"), {}, false, wide, {.rows = 4}); }).code(),
            Errc::usage);
}

// Units (for filters too large for one program): every group defined once, in order, across the later
// units, declared in the kernel's; together they compute what the single program does.
TEST(EmitConv2dUnits, HoldEveryGroupOnceAndComputeTheConvolution) {
  const Conv2dShape s{2, 6, 9, 7, 11, 3, 3, 2, 1, 1};
  const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), 0.3, 21);
  std::mt19937 rng(22);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.input_size())), bias(static_cast<size_t>(s.out_channels));
  for (float& v : x) v = value(rng);
  for (float& b : bias) b = value(rng);
  for (const KernelConfig config : {KernelConfig{.rows = 2, .prefetch = 4}, KernelConfig{.rows = 4, .prefetch = 4, .block_slices = 2},
                                    KernelConfig{.rows = 4, .cols = 2, .prefetch = 4, .block_slices = 2}}) {
   for (bool ptx : {false, true}) {
    SCOPED_TRACE(to_string(config) + (ptx ? ", PTX" : ""));
    const auto units = emit_sparse_conv2d_units(w, bias, true, s, config, 20, ptx);
    ASSERT_GE(units.size(), 3u);
    std::string groups;  // the later units' text
    for (size_t u = 1; u < units.size(); ++u) {
      EXPECT_EQ(units[u].find("__global__"), std::string::npos) << "the kernel is in unit 0 only";
      groups += units[u];
    }
    std::vector<std::string> names;  // every function of every group
    for (int64_t g = 0; g < row_groups(config, s.out_channels); ++g) {
      if (config.block_slices == 1) names.push_back(fmt::format("group{}(", g));
      for (int sl = 0; sl < config.block_slices && config.block_slices > 1; ++sl) names.push_back(fmt::format("group{}_{}(", g, sl));
      if (config.block_slices > 1) names.push_back(fmt::format("finish{}(", g));
    }
    for (const std::string& name : names) {
      const std::string defined = "extern \"C\" __device__ __noinline__ void " + name;
      EXPECT_NE(units[0].find("extern \"C\" __device__ void " + name), std::string::npos) << name << " declared";
      const size_t at = groups.find(defined);
      EXPECT_NE(at, std::string::npos) << name;
      EXPECT_EQ(groups.find(defined, at + 1), std::string::npos) << name << " defined twice";
    }
    // The kernel's corner from unit 0, the groups from the others: the interpreter's program.
    const std::string kernel = units[0].substr(units[0].find("extern \"C\" __global__"));
    const std::vector<float> y = interpret(groups + kernel, s, x, true, config.cols);
    EXPECT_LE(max_relative_error(y, conv2d_reference(s, w, x, bias, true)), 1e-5);
   }
  }
}

#ifdef SPDNN_HAVE_CUDA
TEST(EmitConv2dNvrtc, UnitsLinkIntoOneModule) {
  const Conv2dShape s{1, 16, 14, 14, 24, 3, 3, 1, 1, 1};
  const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), 0.2, 23);
  for (const KernelConfig config : {KernelConfig{.rows = 8, .prefetch = 32, .fixed_n = 1},
                                    KernelConfig{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1}}) {
    for (bool ptx : {false, true}) {  // inline PTX: ptxas takes it, and the units link
      const auto units = emit_sparse_conv2d_units(w, std::vector<float>(24, 0.5f), true, s, config, 150, ptx);
      ASSERT_GE(units.size(), 3u);
      const CompiledModule m = compile_and_link_cuda(units, 90, "conv_linked.cu", unit_compile_options(config));
      EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
    }
  }
}

// A convolution's modules are keyed by its whole shape (and kept apart from the same W as a linear layer),
// compiled once and then loaded from the cache, without a GPU.
TEST(EmitConv2dNvrtc, ModulesAreKeyedByTheWholeShapeAndCached) {
  test::TempDir dir;
  SparseLinearOptions options;
  options.cache_dir = dir.path();
  const Conv2dShape s{1, 8, 10, 10, 12, 3, 3, 1, 1, 1};
  Conv2dShape other = s;
  other.height = 11;
  const CsrMatrix w = test::random_weights(12, 72, 0.2, 25);
  const std::vector<float> bias;
  ModuleStore conv(w, bias, options, 90, s), conv_other(w, bias, options, 90, other), linear(w, bias, options, 90);
  const KernelConfig config{.rows = 4, .prefetch = 32, .fixed_n = 1};
  EXPECT_NE(conv.key(config, 1), conv_other.key(config, 1));
  EXPECT_NE(conv.key(config, 1), linear.key(config, 1));
  EXPECT_EQ(conv.key(config, 1), conv.key(config, 100)) << "the shape, not n, keys a convolution";
  Conv2dShape batch8 = s;
  batch8.batch = 8;
  EXPECT_EQ(conv.key(config, 1), ModuleStore(w, bias, options, 90, batch8).key(config, 1)) << "one module serves every batch";
  const ModuleStore::Built built = conv.obtain(config, 1);
  EXPECT_FALSE(built.from_cache);
  EXPECT_EQ(std::string(built.cubin.data(), 4), "\x7f" "ELF");
  ModuleStore again(w, bias, options, 90, s);
  EXPECT_TRUE(again.obtain(config, 1).from_cache);
  EXPECT_FALSE(conv_other.cached(config, 1));
}

// Precompiling fills the cache with every candidate of every shape, once per shape whatever the batch.
TEST(EmitConv2dNvrtc, PrecompileFillsTheCacheForEachShape) {
  test::TempDir dir;
  SparseLinearOptions options;
  options.cache_dir = dir.path();
  const Conv2dShape a{1, 6, 7, 7, 10, 3, 3, 1, 1, 1};
  Conv2dShape a8 = a, b = a;
  a8.batch = 8;
  b.height = b.width = 5;
  const CsrMatrix w = test::random_weights(10, 54, 0.3, 27);
  size_t modules = 0;
  const auto seconds = precompile_sparse_conv2ds({{&w, nullptr, {a, a8, b}}}, 90, options, 2,
                                                 [&](size_t, size_t total) { modules = total; });
  ASSERT_EQ(seconds.size(), 1u);
  EXPECT_GT(seconds[0], 0.0);
  const std::vector<float> no_bias;
  for (const Conv2dShape& s : {a, a8, b}) {
    const ModuleStore store(w, no_bias, options, 90, s);
    for (const KernelConfig& c : sparse_conv2d_candidates(w, s, 90)) EXPECT_TRUE(store.cached(c, 1)) << to_string(s);
  }
  EXPECT_EQ(modules, sparse_conv2d_candidates(w, a, 90).size() + sparse_conv2d_candidates(w, b, 90).size())
      << "batch 1 and 8 share their modules";
  Conv2dShape bad = a;
  bad.stride = 0;
  EXPECT_EQ(test::error_from([&] { precompile_sparse_conv2ds({{&w, nullptr, {bad}}}, 90, options); }).code(), Errc::usage);
}

TEST(EmitConv2dNvrtc, CompilesForHopper) {
  const Conv2dShape s{8, 64, 56, 56, 64, 3, 3, 1, 1, 1};
  const CsrMatrix w = test::random_weights(s.out_channels, s.filter_columns(), 0.1, 5);
  for (const KernelConfig config : {KernelConfig{.rows = 4, .prefetch = 8}, KernelConfig{.rows = 16, .prefetch = 8},
                                    KernelConfig{.rows = 8, .threads = 256, .prefetch = 8, .block_slices = 2},
                                    KernelConfig{.rows = 32, .cols = 2, .prefetch = 16}, KernelConfig{.rows = 16, .cols = 4, .prefetch = 8},
                                    KernelConfig{.rows = 8, .cols = 2, .threads = 256, .prefetch = 8, .block_slices = 2},
                                    KernelConfig{.rows = 32, .threads = 512, .cluster_slices = 8, .prefetch = 32, .bound = 512, .fixed_n = 1}}) {
    for (bool ptx : {false, true}) {
      const CompiledModule m = compile_cuda(emit_sparse_conv2d(w, std::vector<float>(64, 0.5f), true, s, config, ptx), 90, "conv.cu");
      EXPECT_FALSE(m.cubin.empty());
    }
  }
}
#endif

}  // namespace
}  // namespace spdnn::codegen
