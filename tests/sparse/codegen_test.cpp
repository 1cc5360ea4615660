// The CPU side of kernel generation: the emitted source and (in CUDA builds) that NVRTC compiles it; none
// of this needs a GPU. Cache keys and files: kernel_cache_test.cpp; candidates: candidates_test.cpp.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>

#include "sparse/codegen/emit.hpp"
#include "sparse/codegen/kernel_cache.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/weights.hpp"
#include "support/random_weights.hpp"
#include "support/test_support.hpp"
#ifdef SPDNN_HAVE_CUDA
#include "sparse/codegen/nvrtc_compiler.hpp"
#include "spdnn/sparse/sparse_linear.hpp"
#endif

namespace spdnn::codegen {

namespace {

using test::random_weights;

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + what.size())) ++n;
  return n;
}

CsrMatrix small_matrix() {
  // 3 x 5: row 1 empty; column 2 shared by rows 0 and 2 (one load, two multiply-adds).
  return csr_from_triplets(3, 5, {{0, 2, 0.75f}, {0, 4, -1.5f}, {2, 2, 3.0f}, {2, 0, -0.125f}}, "small");
}

}  // namespace

TEST(Emit, OneMultiplyAddPerNonzeroAndColumnAndOneLoadPerDistinctColumnOfAGroup) {
  const CsrMatrix w = small_matrix();
  for (int c : {1, 2, 4}) {
    const std::string src = emit_sparse_linear(w, {}, false, {4, c, 128});
    EXPECT_EQ(count(src, "__fmaf_rn("), static_cast<size_t>(w.nnz() * c)) << src;
    EXPECT_EQ(count(src, "__ldg("), 3u) << "columns 0, 2 and 4 are loaded once each";
    EXPECT_EQ(count(src, "static __device__ __noinline__ void group"), 1u);
  }
  // Every weight appears as its exact hexadecimal literal; so does the bias.
  const std::string src = emit_sparse_linear(w, {0.5f, -2.0f, 0.0f}, true, {1, 1, 128});
  for (const char* literal : {"0x1.8p-1f", "-0x1.8p+0f", "0x1.8p+1f", "-0x1p-3f", "0x1p-1f", "-0x1p+1f"})
    EXPECT_NE(src.find(literal), std::string::npos) << literal;
  EXPECT_EQ(count(src, "static __device__ __noinline__ void group"), 3u) << "one group per row";
  EXPECT_NE(src.find("a < 0.0f ? 0.0f : a"), std::string::npos) << "ReLU";
  // The empty row still stores act(bias).
  EXPECT_NE(src.find("yj[1ull * n] = a0_0"), std::string::npos);
}

TEST(Emit, SplitKSlicesEachGroupsColumnsOnceAndSumsThePartsInOrder) {
  const CsrMatrix w = random_weights(37, 300, 0.2, 5);
  for (int slices : {2, 4, 8}) {
    const std::string src = emit_sparse_linear(w, {}, true, {16, 1, 256, slices});
    EXPECT_EQ(count(src, "__fmaf_rn("), w.nnz()) << slices;  // every nonzero once, in exactly one slice
    const int64_t groups = row_groups({16, 1, 256, slices}, w.rows);
    for (int64_t g = 0; g < groups; ++g) {
      for (int sl = 0; sl < slices; ++sl) EXPECT_EQ(count(src, fmt::format("void group{}_{}(", g, sl)), 1);
      EXPECT_EQ(count(src, fmt::format("void finish{}(", g)), 1);
      EXPECT_EQ(count(src, fmt::format("case {}: finish{}(", g, g)), 1);
    }
    EXPECT_EQ(count(src, "yj["), w.rows);  // every row stored once, after the sum of its slices
    // The slices of a finished row are added in slice order, one from each block of the cluster.
    std::string sum = "a0_0 = p0[0 * lanes]";
    for (int sl = 1; sl < slices; ++sl) sum += fmt::format(" + p{}[0 * lanes]", sl);
    EXPECT_EQ(count(src, sum + ";"), static_cast<size_t>(groups)) << "row 0 of each group";
    // One cluster barrier per step of columns and one before leaving (peers read this block's sums).
    EXPECT_EQ(count(src, "    cluster_sync();\n"), 1u);
    EXPECT_EQ(count(src, "  cluster_sync();  //"), 1u);
    EXPECT_EQ(count(src, "mapa.u64"), 1u);
    EXPECT_EQ(count(src, "__syncthreads()"), 0u);
  }
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {16, 1, 128, 3}), Error) << "3 slices";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {32, 2, 128, 2}), Error) << "64 partial sums";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 16, .prefetch = -1}), Error) << "negative prefetch";
  // Without split K there is no cluster code at all.
  const std::string plain = emit_sparse_linear(w, {}, true, {16, 1, 256, 1});
  EXPECT_EQ(count(plain, "cluster"), 0u);
  EXPECT_EQ(count(plain, "j += step"), 1u) << "the column loop";
}

// Split K within a block: the same slice functions as over a cluster, run by S sets of threads of one
// block, added in slice order from shared memory between two block barriers.
TEST(Emit, SplitKWithinABlockSumsTheSlicesOfItsThreadSetsInOrder) {
  const CsrMatrix w = random_weights(37, 300, 0.2, 5);
  for (int slices : {2, 4, 8}) {
    const KernelConfig shape{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = slices};
    const std::string src = emit_sparse_linear(w, {}, true, shape);
    EXPECT_EQ(count(src, "__fmaf_rn("), w.nnz()) << slices;
    const int64_t groups = row_groups(shape, w.rows);
    for (int64_t g = 0; g < groups; ++g) {
      for (int sl = 0; sl < slices; ++sl) {
        EXPECT_EQ(count(src, fmt::format("void group{}_{}(", g, sl)), 1);
        EXPECT_EQ(count(src, fmt::format("case {}: group{}_{}(", sl, g, sl)), 1);
      }
      EXPECT_EQ(count(src, fmt::format("case {0}: finish{0}(", g)), 1);
    }
    EXPECT_EQ(count(src, "yj["), w.rows);
    std::string sum = "a0_0 = p0[0 * lanes]";
    for (int sl = 1; sl < slices; ++sl) sum += fmt::format(" + p{}[0 * lanes]", sl);
    EXPECT_EQ(count(src, sum + ";"), static_cast<size_t>(groups)) << "row 0 of each group";
    // Slice s's sums lie 16 rows x lanes after slice s - 1's.
    EXPECT_EQ(count(src, fmt::format("const float* p{} = part + {} * 16 * lanes;", slices - 1, slices - 1)),
              static_cast<size_t>(groups));
    EXPECT_EQ(count(src, fmt::format("const int lanes = blockDim.x / {};", slices)), 1u);
    EXPECT_EQ(count(src, "__syncthreads();"), 2u) << "sums written, then read before the next step";
    EXPECT_EQ(count(src, "cluster"), 0u);
  }
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 16, .threads = 512, .bound = 512, .block_slices = 3}), Error) << "3 slices";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 16, .threads = 512, .cluster_slices = 2, .bound = 512, .block_slices = 2}), Error) << "cluster and block";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 16, .threads = 64, .block_slices = 4}), Error) << "slices of 16 threads";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 128, .threads = 1024, .bound = 1024, .block_slices = 2}), Error) << "512 KB of sums";
}

// Several row groups within a block: set s of G runs group blockIdx.y * G + s; grid.y counts blocks of
// G groups, the last one part empty where G does not divide the groups.
TEST(Emit, RowGroupsWithinABlockEachRunTheirOwnGroup) {
  const CsrMatrix w = random_weights(37, 300, 0.2, 5);
  for (int sets : {2, 4, 8}) {
    const KernelConfig shape{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_groups = sets};
    const std::string src = emit_sparse_linear(w, {}, true, shape);
    EXPECT_EQ(count(src, "__fmaf_rn("), w.nnz()) << sets;
    EXPECT_EQ(count(src, "yj["), w.rows);
    const int64_t groups = row_groups(shape, w.rows);
    for (int64_t g = 0; g < groups; ++g) EXPECT_EQ(count(src, fmt::format("case {0}: group{0}(x + j, y + j, stride);", g)), 1);
    EXPECT_EQ(count(src, fmt::format("const unsigned g = blockIdx.y * {0} + warp % {0};", sets)), 1u);
    EXPECT_EQ(count(src, "__syncthreads"), 0u);
    EXPECT_EQ(grid_rows(shape, w.rows), (groups + sets - 1) / sets);
    EXPECT_EQ(shared_bytes(shape), 0);
  }
  EXPECT_EQ(grid_rows({8, 1, 128, 4}, 37), 5 * 4) << "a cluster's blocks per group";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 8, .threads = 512, .bound = 512, .block_groups = 3}), Error) << "3 groups";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 8, .threads = 512, .bound = 512, .block_slices = 2, .block_groups = 2}), Error) << "with K slices";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 8, .block_groups = 8}), Error) << "sets of 16 threads";
}

TEST(Emit, SharedMemoryDoubleBuffersThePartialSums) {
  EXPECT_EQ(shared_bytes({16, 1, 128, 1}), 0);
  EXPECT_EQ(shared_bytes({16, 1, 128, 4}), 2 * 16 * 128 * 4);
  EXPECT_EQ(shared_bytes({.rows = 16, .cols = 2, .threads = 256, .cluster_slices = 8}), 2 * 16 * 2 * 256 * 4);
  EXPECT_EQ(shared_bytes({.rows = 32, .threads = 512, .bound = 512, .block_slices = 4}), 32 * 512 * 4) << "within a block: one buffer";
}

TEST(Emit, PrefetchIssuesLoadsAheadOfTheirMultiplyAdds) {
  const CsrMatrix w = small_matrix();  // one group of 3 rows: columns 0, 2, 4
  for (int prefetch : {0, 1, 2, 8}) {
    const std::string src = emit_sparse_linear(w, {}, false, {.rows = 4, .prefetch = prefetch});
    EXPECT_EQ(count(src, "__ldg("), 3u) << prefetch;
    EXPECT_EQ(count(src, "__fmaf_rn("), static_cast<size_t>(w.nnz())) << prefetch;
    // Loads before the first multiply-add: its own and the next `prefetch` ones (there are 3 columns).
    const size_t first_fma = src.find("__fmaf_rn(");
    EXPECT_EQ(count(src.substr(0, first_fma), "__ldg("), static_cast<size_t>(std::min(3, prefetch + 1))) << prefetch;
  }
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 4, .prefetch = 65}), Error);
  EXPECT_NE(module_key("l", {.rows = 32, .prefetch = 16}, 196, 90, "c"), module_key("l", {.rows = 32}, 196, 90, "c"));
}

// Launched with programmatic dependent launch, a kernel may start before the previous one in its stream
// has finished: it must wait for it before any group reads X or writes Y, and (measured slower) it
// does not let the next kernel start early.
TEST(Emit, TheKernelWaitsForThePreviousGridBeforeItsGroupsRun) {
  const CsrMatrix w = small_matrix();
  for (const KernelConfig shape : {KernelConfig{4, 1, 128}, KernelConfig{2, 2, 64, 4}, KernelConfig{.rows = 4, .threads = 32}}) {
    const std::string src = emit_sparse_linear(w, {}, false, shape);
    const std::string kernel = src.substr(src.find("__global__"));
    const size_t wait = kernel.find("griddepcontrol.wait;");
    ASSERT_NE(wait, std::string::npos) << shape.cluster_slices;
    EXPECT_LT(wait, kernel.find("switch")) << shape.cluster_slices;
    EXPECT_LT(wait, kernel.find("x + j")) << shape.cluster_slices;
    EXPECT_EQ(count(src, "launch_dependents"), 0u) << shape.cluster_slices;
  }
}

TEST(Emit, UnitsHoldEveryGroupOnceAndTheKernelDeclaresThem) {
  const CsrMatrix w = random_weights(100, 80, 0.25, 8);
  for (int slices : {1, 2}) {
    const KernelConfig shape{8, 1, 128, slices};
    const auto units = emit_sparse_linear_units(w, {}, false, shape, 300);
    const int64_t groups = row_groups(shape, w.rows);
    size_t fmas = 0;
    for (size_t u = 1; u < units.size(); ++u) {
      fmas += count(units[u], "__fmaf_rn(");
      EXPECT_EQ(count(units[u], "__global__"), 0u);
      EXPECT_EQ(count(units[u], "static __device__ __noinline__"), 0u) << "group functions link across units";
    }
    EXPECT_EQ(fmas, static_cast<size_t>(w.nnz()));
    EXPECT_EQ(count(units[0], "__fmaf_rn("), 0u);
    EXPECT_EQ(count(units[0], "__global__"), 1u);
    EXPECT_EQ(count(units[0], "extern \"C\" __device__ void group"), static_cast<size_t>(groups * slices));
    EXPECT_GE(units.size(), 1 + static_cast<size_t>(w.nnz() / 300 / 2)) << "units of about 300 nonzeros";
    for (int64_t g = 0; g < groups; ++g) {
      size_t defined = 0;
      for (size_t u = 1; u < units.size(); ++u)
        defined += count(units[u], slices == 1 ? fmt::format("void group{}(", g) : fmt::format("void finish{}(", g));
      EXPECT_EQ(defined, 1u) << "group " << g;
    }
  }
}

TEST(Emit, GroupsCoverAllRows) {
  const CsrMatrix w = random_weights(37, 20, 0.3, 3);
  for (int r : {1, 5, 8, 37, 64, 128}) {
    const std::string src = emit_sparse_linear(w, {}, false, {r, 1, 64});
    EXPECT_EQ(count(src, "static __device__ __noinline__ void group"), static_cast<size_t>(row_groups({r, 1, 64}, 37)));
    EXPECT_EQ(count(src, "__fmaf_rn("), static_cast<size_t>(w.nnz()));
    for (int64_t row = 0; row < 37; ++row) EXPECT_NE(src.find(fmt::format("yj[{}ull * n]", row)), std::string::npos) << row;
  }
}

// With the stride compiled in, every load and store of a group is at a literal offset (row * N) from the
// thread's first element, and n appears in no group's address: the same arithmetic, in the same order.
TEST(Emit, ACompiledInStrideMakesEveryOffsetALiteral) {
  const CsrMatrix w = small_matrix();  // rows 0 and 2 read columns 0, 2 and 4
  for (int c : {1, 2}) {
    KernelConfig shape{4, c, 128};
    const std::string by_argument = emit_sparse_linear(w, {0.5f, -2.0f, 0.0f}, true, shape);
    shape.fixed_n = 1;
    const std::string src = emit_sparse_linear(w, {0.5f, -2.0f, 0.0f}, true, shape, 50);
    EXPECT_EQ(emit_sparse_linear(w, {0.5f, -2.0f, 0.0f}, true, {4, c, 128}, 50), by_argument) << "N unused unless fixed";
    EXPECT_EQ(count(src, "ull * n"), 0u) << src;
    EXPECT_GT(count(by_argument, "ull * n"), 0u);
    EXPECT_EQ(count(src, "__fmaf_rn("), count(by_argument, "__fmaf_rn("));
    for (int col : {0, 2, 4}) EXPECT_EQ(count(src, fmt::format("xj + {}ull)", col * 50)), 1u) << col << "\n" << src;
    for (int row : {0, 1, 2})
      EXPECT_EQ(count(src, c == 1 ? fmt::format("yj[{}ull]", row * 50) : fmt::format("yj + {}ull)", row * 50)), 1u) << row;
    EXPECT_NE(src.find("N = 50 only"), std::string::npos) << "the header says which N the module serves";
  }
  // Split K (cluster and block) and the linked units write literal offsets too.
  const CsrMatrix r = random_weights(37, 300, 0.2, 5);
  for (const KernelConfig shape : {KernelConfig{.rows = 16, .threads = 256, .cluster_slices = 4, .fixed_n = 1},
                                  KernelConfig{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1},
                                  KernelConfig{.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_groups = 2, .fixed_n = 1}}) {
    const std::string src = emit_sparse_linear(r, {}, true, shape, 1568);
    EXPECT_EQ(count(src, "ull * n"), 0u);
    EXPECT_EQ(count(src, "__fmaf_rn("), static_cast<size_t>(r.nnz()));
    EXPECT_EQ(count(src, fmt::format("yj[{}ull]", 36 * 1568)), 1u) << "the last row, stored once";
    for (const std::string& unit : emit_sparse_linear_units(r, {}, true, shape, 200, 1568)) EXPECT_EQ(count(unit, "ull * n"), 0u);
  }
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 4, .fixed_n = 1}, -1), Error) << "negative N";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 4, .fixed_n = 1}, 0), Error) << "no N to compile in";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 4, .fixed_n = 1}, int64_t{1} << 32), Error)
      << "an N beyond 32 bits";
  // ptxas keeps the written load order (-O1) where the offsets are literals; modules are keyed by it.
  EXPECT_EQ(compile_options({.rows = 4, .fixed_n = 1}), std::vector<std::string>{"--ptxas-options=-O1"});
  EXPECT_TRUE(compile_options({4, 1, 128}).empty());
  EXPECT_EQ(unit_compile_options({.rows = 4, .bound = 512, .fixed_n = 1}),
            (std::vector<std::string>{"--ptxas-options=-O1", "-maxrregcount=128"}));
  EXPECT_THROW(validate({.rows = 4, .fixed_n = 2}), Error) << "fixed_n is 0 or 1";
}

TEST(Emit, RejectsBadShapesAndSizes) {
  const CsrMatrix w = small_matrix();
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {0, 1, 128}), Error);
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {8, 3, 128}), Error);
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {8, 1, 100}), Error);
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {64, 4, 128}), Error) << "256 accumulators";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {129, 1, 128}), Error) << "129 rows per group";
  EXPECT_THROW(emit_sparse_linear(w, {1.0f, 2.0f}, false, {8, 1, 128}), Error) << "2 biases for 3 rows";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 8, .bound = 384}), Error) << "a launch bound of 384";
  EXPECT_THROW(emit_sparse_linear(w, {}, false, {.rows = 8, .threads = 512}), Error) << "512 threads over a bound of 256";
}

TEST(Emit, TheLaunchBoundIsPartOfTheShape) {
  const CsrMatrix w = small_matrix();
  for (int b : {256, 512, 1024}) {
    const std::string src = emit_sparse_linear(w, {}, false, {.rows = 4, .bound = b});
    EXPECT_NE(src.find(fmt::format("__launch_bounds__({})", b)), std::string::npos) << b;
    EXPECT_EQ(count(src, "__fmaf_rn("), static_cast<size_t>(w.nnz())) << "the same arithmetic for " << b;
  }
}

#ifdef SPDNN_HAVE_CUDA
TEST(Nvrtc, CompilesEmittedKernelsForHopper) {
  const CsrMatrix w = random_weights(40, 64, 0.2, 5);
  for (int c : {1, 4}) {
    const CompiledModule m = compile_cuda(emit_sparse_linear(w, std::vector<float>(40, 0.25f), true, {16, c, 128}), 90, "test.cu");
    EXPECT_GT(m.cubin.size(), 1000u);
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
  }
  for (int c : {1, 2}) {  // split K
    const CompiledModule m = compile_cuda(emit_sparse_linear(w, std::vector<float>(40, 0.25f), true, {16, c, 256, 4}), 90, "split.cu");
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
  }
  for (int b : {512, 1024}) {  // wider launch bounds: registers capped at 128 and 64
    const CompiledModule m = compile_cuda(emit_sparse_linear(w, {}, false, {.rows = 32, .bound = b}), 90, "capped.cu");
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
  }
  for (int s : {2, 4}) {  // split K, and row groups, within a block
    const CompiledModule m = compile_cuda(emit_sparse_linear(w, {}, true, {.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = s}), 90, "block.cu");
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
    const CompiledModule g = compile_cuda(emit_sparse_linear(w, {}, true, {.rows = 8, .threads = 512, .prefetch = 32, .bound = 512, .block_groups = s}), 90, "groups.cu");
    EXPECT_EQ(std::string(g.cubin.data(), 4), "\x7f" "ELF");
  }
  // The stride compiled in, at an N whose offsets pass the 24-bit immediates of the loads (K x N x 4 bytes
  // over 8 MB), with 4 columns per thread and split K over a cluster.
  for (const auto& [shape, n] : {std::pair{KernelConfig{.rows = 16, .cols = 4, .prefetch = 32, .fixed_n = 1}, int64_t{50000}},
                                 std::pair{KernelConfig{.rows = 16, .threads = 256, .cluster_slices = 4, .fixed_n = 1}, int64_t{7}}}) {
    const CompiledModule m = compile_cuda(emit_sparse_linear(w, {}, true, shape, n), 90, "stride.cu", compile_options(shape));
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
  }
}

TEST(Nvrtc, LinksSeparatelyCompiledUnits) {
  const CsrMatrix w = random_weights(70, 64, 0.2, 5);
  for (const KernelConfig shape : {KernelConfig{16, 1, 128}, KernelConfig{16, 1, 128, 4}, KernelConfig{.rows = 16, .threads = 512, .bound = 512, .block_slices = 4},
                                  KernelConfig{.rows = 16, .threads = 512, .prefetch = 32, .bound = 512, .block_slices = 4, .fixed_n = 1}}) {
    const auto units = emit_sparse_linear_units(w, std::vector<float>(70, 0.25f), true, shape, 200, 300);
    ASSERT_GE(units.size(), 3u);
    const CompiledModule m = compile_and_link_cuda(units, 90, "linked.cu", unit_compile_options(shape));
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
  }
  // Wider launch bounds: the kernel's unit caps its registers, so the group functions of the other
  // units must be compiled under the same cap, or nvJitLink refuses the call ("entry function with max
  // regcount of 128 calls function 'group1' with regcount of 131").
  for (int bound : {512, 1024}) {
    const KernelConfig shape{.rows = 32, .prefetch = 32, .bound = bound};
    const auto units = emit_sparse_linear_units(w, {}, true, shape, 200);
    const CompiledModule m = compile_and_link_cuda(units, 90, "capped_linked.cu", unit_compile_options(shape));
    EXPECT_EQ(std::string(m.cubin.data(), 4), "\x7f" "ELF");
  }
  const Error e = test::error_from([] {
    compile_and_link_cuda({"extern \"C\" __device__ void missing(); extern \"C\" __global__ void k() { missing(); }"}, 90, "unlinked.cu");
  });
  EXPECT_TRUE(test::says(e, "unlinked.cu")) << e.what();
}

TEST(Nvrtc, FailureIsAnErrorWithNvrtcsMessage) {
  const Error e = test::error_from([] { compile_cuda("this is not CUDA", 90, "broken.cu"); });
  EXPECT_EQ(e.code(), Errc::device);
  EXPECT_TRUE(test::says(e, "broken.cu")) << e.what();
}
#endif

// The real DLMC file: the emitted kernel has one multiply-add per nonzero.
TEST(Emit, RealDlmcMatrix) {
  SPDNN_REQUIRE_DATA(path, "dlmc/rn50/magnitude_pruning/0.98/bottleneck_1_block_group1_1_1.smtx.gz");
  const CsrMatrix w = io::read_smtx(path);
  const std::string src = emit_sparse_linear(w, {}, false, {16, 1, 128});
  EXPECT_EQ(count(src, "__fmaf_rn("), static_cast<size_t>(w.nnz()));
}

}  // namespace spdnn::codegen
