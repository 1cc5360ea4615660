// The linear layers' inline-PTX form (emit.cpp, put_linear_ptx), on the CPU: each group and slice function's
// statement run by the PTX interpreter against float64 for a few columns, the forms it falls back from,
// and (CUDA builds) that NVRTC compiles and links it.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "sparse/codegen/emit.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "support/ptx_interpreter.hpp"
#include "support/random_weights.hpp"
#include "support/sparse_layers.hpp"
#include "support/test_support.hpp"
#ifdef SPDNN_HAVE_CUDA
#include "sparse/codegen/nvrtc_compiler.hpp"
#endif

namespace spdnn::codegen {
namespace {

using test::random_values, test::random_weights;

// Each function of the emitted source with an asm statement: its name (group<g> or group<g>_<s>) and the
// statement's quoted lines.
std::map<std::string, std::vector<std::string>> ptx_functions(const std::string& src) {
  std::map<std::string, std::vector<std::string>> out;
  const std::regex header(R"(void (group\d+(?:_\d+)?)\()");
  std::istringstream in(src);
  std::string name;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, header) && line.back() == '{') name = m[1], inside = false;
    if (line.rfind("  asm volatile(", 0) == 0) inside = true;
    else if (line.rfind("  ::", 0) == 0) inside = false;
    else if (inside && !line.empty() && line[0] == '"') out[name].push_back(line);
  }
  return out;
}

// The layer computed by running every function's statement for column j of an N-column X (K x N, at a
// made-up address), as the kernel would call it: whole groups store to Y, slices write partial sums that are
// then added in slice order, biased and activated as the finish function does (float, left to right).
std::vector<float> run_column(const std::string& src, const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                              const KernelConfig& config, const std::vector<float>& x, int64_t n, int64_t j) {
  constexpr int64_t kX = int64_t{1} << 40, kY = int64_t{3} << 40, kPart = int64_t{4} << 40, kLanes = 96;
  std::vector<float> y(static_cast<size_t>(w.rows), NAN);
  std::map<int64_t, std::map<int64_t, std::map<int64_t, float>>> parts;  // group -> slice -> row -> sum
  const auto functions = ptx_functions(src);
  EXPECT_EQ(static_cast<int64_t>(functions.size()), row_groups(config, w.rows) * slices_of(config)) << "one statement a function";
  for (const auto& [name, lines] : functions) {
    int64_t g = 0, slice = -1;
    if (std::sscanf(name.c_str(), "group%ld_%ld", &g, &slice) < 1) ADD_FAILURE() << name;
    test::PtxMachine ptx;
    ptx.operands = slice >= 0 ? std::vector<int64_t>{kX + 4 * j, kPart, kLanes} : std::vector<int64_t>{kX + 4 * j, kY + 4 * j};
    ptx.load = [&](int64_t at) -> float {
      const int64_t i = (at - kX) / 4;
      EXPECT_TRUE(at >= kX && i < static_cast<int64_t>(x.size()) && (at - kX) % 4 == 0) << "a load outside X";
      EXPECT_EQ(i % n, j) << "a load from another column";
      return x[static_cast<size_t>(i)];
    };
    ptx.store = [&](int64_t at, float value) {
      if (slice >= 0) {
        EXPECT_EQ((at - kPart) % (4 * kLanes), 0) << "partial sums lie lanes apart";
        parts[g][slice][(at - kPart) / (4 * kLanes)] = value;
        return;
      }
      const int64_t i = (at - kY) / 4;
      ASSERT_TRUE(at >= kY && i % n == j && i / n < w.rows) << "a store outside column j of Y";
      y[static_cast<size_t>(i / n)] = value;
    };
    EXPECT_TRUE(ptx.run(lines)) << name;
  }
  for (const auto& [g, slices] : parts)
    for (int64_t a = 0; a < config.rows && g * config.rows + a < w.rows; ++a) {
      float sum = slices.at(0).at(a);
      for (int64_t s = 1; s < static_cast<int64_t>(slices.size()); ++s) sum += slices.at(s).at(a);
      sum += bias.empty() ? 0.0f : bias[static_cast<size_t>(g * config.rows + a)];
      y[static_cast<size_t>(g * config.rows + a)] = relu && sum < 0.0f ? 0.0f : sum;
    }
  return y;
}

double reference(const CsrMatrix& w, const std::vector<float>& bias, bool relu, const std::vector<float>& x, int64_t n,
                 int64_t row, int64_t j) {
  double sum = bias.empty() ? 0.0 : bias[static_cast<size_t>(row)];
  for (int64_t p = w.row_ptr[row]; p < w.row_ptr[row + 1]; ++p) sum += double{w.values[p]} * x[w.col_idx[p] * n + j];
  return relu && sum < 0 ? 0.0 : sum;
}

}  // namespace

// Whole groups, groups split within a block and over a cluster, rows not a multiple of the group, an
// empty row, with and without bias and ReLU: every output of three columns within 1e-5 of float64.
TEST(LinearPtx, TheStatementsComputeTheLayer) {
  constexpr int64_t n = 37;
  int case_number = 0;
  for (const KernelConfig config : {KernelConfig{.rows = 8, .prefetch = 32, .fixed_n = 1},
                                    KernelConfig{.rows = 32, .prefetch = 4, .fixed_n = 1},
                                    KernelConfig{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1},
                                    KernelConfig{.rows = 8, .threads = 256, .cluster_slices = 2, .prefetch = 8, .fixed_n = 1}})
    for (const bool relu : {false, true}) {
      ++case_number;
      CsrMatrix w = random_weights(45, 70, 0.15, static_cast<uint64_t>(case_number));
      const std::vector<float> bias = relu ? random_values(45, 7) : std::vector<float>{};
      const std::vector<float> x = random_values(static_cast<size_t>(70 * n), 11);
      const std::string src = emit_sparse_linear(w, bias, relu, config, n, true);
      for (int64_t j : {int64_t{0}, int64_t{5}, n - 1}) {
        const std::vector<float> y = run_column(src, w, bias, relu, config, x, n, j);
        for (int64_t r = 0; r < w.rows; ++r) {
          const double want = reference(w, bias, relu, x, n, r, j);
          EXPECT_LE(std::abs(y[static_cast<size_t>(r)] - want), 1e-5 * std::max(1.0, std::abs(want)))
              << to_string(config) << (relu ? " relu" : "") << ", row " << r << ", column " << j;
        }
      }
    }
}

// Units linked together carry the same statements, each group once.
TEST(LinearPtx, UnitsHoldTheSameStatements) {
  const CsrMatrix w = random_weights(70, 64, 0.2, 5);
  const std::vector<float> bias = random_values(70, 3);
  const KernelConfig config{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1};
  const auto units = emit_sparse_linear_units(w, bias, true, config, 200, 300, true);
  ASSERT_GE(units.size(), 3u);
  std::string all;
  for (size_t u = 1; u < units.size(); ++u) all += units[u];
  EXPECT_EQ(ptx_functions(all), ptx_functions(emit_sparse_linear(w, bias, true, config, 300, true)));
}

// C++ statements where the PTX form does not apply: off, several columns a thread, N an argument.
TEST(LinearPtx, CppWhereItDoesNotApply) {
  const CsrMatrix w = random_weights(40, 64, 0.2, 5);
  EXPECT_TRUE(ptx_functions(emit_sparse_linear(w, {}, true, {.rows = 8, .fixed_n = 1}, 100)).empty()) << "off";
  EXPECT_TRUE(ptx_functions(emit_sparse_linear(w, {}, true, {.rows = 8, .cols = 4, .fixed_n = 1}, 100, true)).empty());
  EXPECT_TRUE(ptx_functions(emit_sparse_linear(w, {}, true, {.rows = 8, .fixed_n = 0}, 100, true)).empty());
  const std::string ptx = emit_sparse_linear(w, {}, true, {.rows = 8, .fixed_n = 1}, 100, true);
  EXPECT_EQ(ptx.find("__fmaf_rn"), std::string::npos) << "no multiply-add left in C++";
  EXPECT_EQ(ptx_functions(ptx).size(), 5u);
}

#ifdef SPDNN_HAVE_CUDA
// NVRTC compiles the PTX form, one program and linked units, for sm_90.
TEST(LinearPtx, CompilesAndLinksForHopper) {
  const CsrMatrix w = random_weights(70, 64, 0.2, 5);
  const std::vector<float> bias(70, 0.25f);
  for (const KernelConfig config : {KernelConfig{.rows = 16, .prefetch = 32, .fixed_n = 1},
                                    KernelConfig{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1},
                                    KernelConfig{.rows = 16, .threads = 256, .cluster_slices = 4, .prefetch = 32, .fixed_n = 1}}) {
    const CompiledModule one = compile_cuda(emit_sparse_linear(w, bias, true, config, 300, true), 90, "ptx.cu", compile_options(config));
    EXPECT_EQ(std::string(one.cubin.data(), 4), "\x7f" "ELF") << to_string(config);
    const auto units = emit_sparse_linear_units(w, bias, true, config, 200, 300, true);
    const CompiledModule linked = compile_and_link_cuda(units, 90, "ptx_linked.cu", unit_compile_options(config));
    EXPECT_EQ(std::string(linked.cubin.data(), 4), "\x7f" "ELF") << to_string(config);
  }
}
#endif

}  // namespace spdnn::codegen
