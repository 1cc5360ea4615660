// The kernel configurations SparseLinear compiles and times for a matrix and N (see
// sparse_linear_candidates in include/spdnn/sparse/sparse_linear.hpp), and those SparseConv2d compiles for
// a filter and input shape (sparse_conv2d_candidates), as a table of rules: each rule
// says when it applies, what it adds, and the measurement that justified it (bench/results/
// sparse_explore_h100.md, items cited). Plain C++: the build machine compiles candidates without a GPU.
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/env.hpp"
#include "spdnn/sparse/kernel_config.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn {

namespace {

// What the rules look at.
struct Problem {
  int64_t rows, cols, nnz, n;
  int arch;
  int max_rows;  // W's rows, within the emitter's 128
  // Row groups of `r` rows.
  int64_t groups(int r) const { return (rows + r - 1) / r; }
  int capped(int r) const { return std::min(r, max_rows); }
};

KernelConfig config(int rows, int cols = 1, int threads = 128) { return {.rows = rows, .cols = cols, .threads = threads}; }

struct Rule {
  const char* what;
  const char* measured;  // the measurement that justified the rule
  bool (*applies)(const Problem&);
  std::vector<KernelConfig> (*configs)(const Problem&);
};

const std::array<Rule, 8> kRules{{
    {"rows per group by size: more rows reuse each X load more and compile faster, fewer make more blocks at small N",
     "256 x 512 at 90% (13,107 nonzeros), N = 784: 8.1 us with 16 rows, 6.1 with 8",
     [](const Problem&) { return true; },
     [](const Problem& p) {
       const std::vector<int> rows = p.nnz > 16384 ? std::vector<int>{32} : p.nnz > 4096 ? std::vector<int>{32, 16, 8}
                                                                                          : std::vector<int>{16, 32, 8};
       std::vector<KernelConfig> out;
       for (int r : rows) out.push_back(config(p.capped(r)));
       return out;
     }},
    {"8 rows for a large matrix whose 32-row groups would leave most SMs idle (< 64 blocks of 256 columns)",
     "512 x 2048 at 95%, N = 392: 32 rows 19.4 us (generic 12.9), 8 rows 9.7, 16 rows 12.6 (H200, item 20)",
     [](const Problem& p) { return p.nnz > 16384 && p.groups(32) * ((p.n + 255) / 256) < 64; },
     [](const Problem& p) { return std::vector{config(p.capped(8))}; }},
    {"4 columns per thread for small matrices (the code grows 4 times)",
     "tried only where the code is small: 4 columns multiply the code 4 times (22: slower on larger layers)",
     [](const Problem& p) { return p.nnz <= 4096; },
     [](const Problem& p) { return std::vector{config(p.capped(16), 4)}; }},
    {"launch bounds of 512 and 1024 threads (128 and 64 registers) for short rows: the warps share one code stream",
     "1024 x 256 at 90%, N = 1568: 17.7 -> 10.5 us; 512 x 256, N = 6272: 28 -> 21; K = 1024 spills and loses",
     [](const Problem& p) { return p.cols <= 512 && p.nnz <= 32768 && p.n > 256; },
     [](const Problem& p) {
       std::vector<KernelConfig> out;
       for (int bound : {512, 1024}) out.push_back({.rows = p.capped(32), .bound = bound});
       return out;
     }},
    {"tall groups (64, 128 rows) where X is wide: each group loads X from L2, so fewer groups load less",
     "128 x 256 at 90%, N = 25088: 17.6 -> 10.3 us; 512 x 256, N = 6272: 17.9 -> 12.6; 256 x 1024 loses (item 16)",
     [](const Problem& p) { return p.n >= 1024 && p.nnz <= 65536; },
     [](const Problem& p) {
       std::vector<KernelConfig> out;
       for (int tall : {64, 128})
         if (tall <= p.max_rows) out.push_back(config(tall));
       return out;
     }},
    {"K split within a block of 512 threads (2, 4 slices) for long rows: S code streams of 1 / S of the code",
     "256 x 1024 at 90%, N = 1568: 19.0 -> 13.6 us (S = 4); 2048 x 512, N = 392: 19.7 (generic) -> 13.4 (item 18)",
     [](const Problem& p) { return p.cols >= 512 && p.n >= 384; },
     [](const Problem& p) {
       std::vector<KernelConfig> out;
       for (int s : {2, 4}) out.push_back({.rows = p.capped(32), .threads = 512, .bound = 512, .block_slices = s});
       return out;
     }},
    {"two row groups within a block of 512 threads where X is very wide: they share X through L1",
     "N = 6272 at 90%: 256 x 512 17.0 -> 14.1 us (32 rows), 512 x 256 13.1 -> 12.0 (64 rows); 6 layers no gain (item 18)",
     [](const Problem& p) { return p.n >= 4096 && p.rows >= 256 && p.cols >= 256 && p.nnz <= 65536; },
     [](const Problem&) {
       std::vector<KernelConfig> out;
       for (int r : {32, 64}) out.push_back({.rows = r, .threads = 512, .bound = 512, .block_groups = 2});
       return out;
     }},
    {"K split over a cluster (sm_90) where groups x slices about fill the SMs, each slice >= 32 columns and 128 nonzeros",
     "256 x 1024 at 90%, N = 196: 22 us unsplit, 8.7-10.0 us with 8 slices (item 4)",
     [](const Problem& p) { return p.arch >= 90; },
     [](const Problem& p) {
       int r = p.capped(32), slices = 1;
       while (slices < 8 && p.groups(r) * slices * 2 <= 160 && p.cols / (slices * 2) >= 32) slices *= 2;
       while (r > 8 && p.groups(r / 2) * slices <= 160 && p.nnz / (p.groups(r / 2) * slices) >= 128) r /= 2;
       if (slices > 1 && p.nnz / (p.groups(r) * slices) >= 128) return std::vector{KernelConfig{.rows = r, .cluster_slices = slices}};
       return std::vector<KernelConfig>{};
     }},
}};

// Every candidate writes each load of X 32 columns ahead of its multiply-adds: since the 32-bit row
// stride (0.3.0) ptxas no longer hoists the loads itself, so the source order sets how far they run ahead
// (90%, batch 8: 1024 x 256 12.7 -> 8.6 us, 128 x 512 11.9 -> 9.2; 64 ahead was no better; item 12).
constexpr int kCandidatePrefetch = 32;

}  // namespace

std::vector<KernelConfig> sparse_linear_candidates(const CsrMatrix& w, int64_t n, int arch, bool fixed_stride) {
  const Problem p{w.rows, w.cols, w.nnz(), n, arch, static_cast<int>(std::clamp<int64_t>(w.rows, 1, 128))};
  // The first candidate is what an untuned layer runs, so where 32-row groups would leave most SMs idle the
  // 8-row groups of the second rule come first. DLMC ResNet-50 1x1 at 90% (H200, sparse_rn50_0.9_b*_h200.json),
  // 32 -> 8 rows: 256 x 1024 at N = 196 15.3 -> 5.9 us, 512 x 1024 at N = 196 15.5 -> 6.4, 1024 x 512 at
  // N = 196 8.8 -> 6.1, 512 x 2048 at N = 392 29.8 -> 16.7, 256 x 1024 at N = 1568 16.5 -> 14.9.
  // (Its configurations are not added twice when it comes again in order.)
  std::vector<const Rule*> order{&kRules[1]};
  for (const Rule& rule : kRules) order.push_back(&rule);
  std::vector<KernelConfig> out;
  for (const Rule* r : order) {
    const Rule& rule = *r;
    if (!rule.applies(p)) continue;
    for (KernelConfig c : rule.configs(p)) {
      c.prefetch = kCandidatePrefetch;
      c.fixed_n = fixed_stride ? 1 : 0;
      if (n % c.cols == 0 && std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    }
  }
  return out;
}

// A convolution is the linear layer W * im2col(X) with one thread per output pixel (emit_conv2d.hpp), so its
// candidates follow the linear rules that apply to one column per thread, with N = the output pixels:
// rows per group by size, 8 rows where 32-row groups would leave most SMs idle, and K split within a block
// of 512 threads (4 slices) for long rows (C*R*S >= 512) over enough pixels, as for linear layers (rule 6).
// Deep layers at small batches have few pixels and long rows (512 x 4608 on 7 x 7 pixels), where even
// 8-row groups make fewer than two blocks of 128 threads per SM of an H100 (264), each thread a long chain
// of loads; there 2-row groups are tried, four times the threads with a quarter of the chain, and 8-row
// and 4-row groups split 4 ways, four times the threads with a quarter each of the same reuse (tuning chose
// one of these at batch 1 on every real SparseRT filter, so they come first, after 8-row groups where
// those still make a block per SM). Every candidate schedules with
// ptxas -O1 (fixed_n = 1), as linear kernels whose offsets are literals do. Threads of several output
// rows (cols > 1) are not candidates: measured slower at batch 8 (emit_conv2d.hpp). No candidate's
// functions hold much more than 4096 nonzeros (its rows are halved until they fit; see add below).
std::vector<KernelConfig> sparse_conv2d_candidates(const CsrMatrix& w, const Conv2dShape& shape, int arch) {
  const int64_t pixels = shape.batch * shape.out_height() * shape.out_width();
  const Problem p{w.rows, w.cols, w.nnz(), pixels, arch, static_cast<int>(std::clamp<int64_t>(w.rows, 1, 128))};
  std::vector<KernelConfig> out;
  // A function's compile time grows faster than its size (ptxas), and a long one ran slowly too: DLMC
  // 512 x 4608 at 95%, 32-row groups unsplit (7.4k nonzeros a function) took 186 s to compile on 2 cores
  // against 41-74 s for the other candidates, and 37-48 us against 13-18 at batch 1 and 8 (s36). So a
  // candidate's rows are halved until its functions hold at most about this many nonzeros (the mean row's
  // times rows / slices).
  constexpr int64_t kMaxFunctionNnz = 4096;
  auto add = [&out, &p](KernelConfig c) {
    c.prefetch = kCandidatePrefetch;
    c.fixed_n = 1;
    while (c.rows > 1 && p.nnz * c.rows / std::max<int64_t>(p.rows, 1) / slices_of(c) > kMaxFunctionNnz) c.rows /= 2;
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  };
  auto split = [&p](int rows) { return KernelConfig{.rows = p.capped(rows), .threads = 512, .bound = 512, .block_slices = 4}; };
  // Few blocks: these come first, since the first candidate is what an untuned layer runs, and tuning chose
  // one of them on every SparseRT filter at batch 1 (bench/results/sparse_conv_sparsert_h100.md). The
  // first is 8-row groups unsplit where they still give each SM of an H100 a block of 128 pixels, else
  // 2-row groups: in the tuning tables of the DLMC 95% set (H100, sparse_conv_dlmc_0.95_ptx_s38_h100.json)
  // that first pick runs 5.3 / 14.7 us (geometric means, batch 1 / 8) where 8 rows split 4 ways ran 8.8 /
  // 15.9 (tuned: 5.2 / 12.4); 256 x 2304 on 14 x 14 at batch 1 11.3-12.3 -> 4.4-5.2 us, 512 x 4608 on
  // 7 x 7 at batch 8 27.2-27.8 -> 18.2-18.7.
  constexpr int64_t kFewBlocks = 264;
  const int64_t tiles = (pixels + 127) / 128;
  if (p.groups(p.capped(8)) * tiles < kFewBlocks) {
    if (p.groups(p.capped(8)) * tiles >= kFewBlocks / 2) add(config(p.capped(8)));
    add(config(p.capped(2)));
    if (p.cols >= 512) {
      add(split(8));
      add(split(4));  // DLMC 512 x 4608 at 95%, batch 1: 12.9 us, 8 rows split 15.3 (s36)
    }
  }
  for (const Rule& rule : {kRules[0], kRules[1]})
    if (rule.applies(p))
      for (const KernelConfig& c : rule.configs(p)) add(c);
  if (p.cols >= 512 && pixels >= 384) add(split(32));
  // K split over a cluster (emit_conv2d.hpp): 32-row groups of 512 threads split 8 or 4 ways where rows
  // are long and a 512-thread block covers the pixels in at most 4 steps. Built and CPU-tested but not yet
  // run on a GPU (docs/generated-kernels.md), so tried only where SPDNN_CONV_CLUSTER=1 asks.
  if (p.arch >= 90 && p.cols >= 512 && pixels <= 2048 && env_equals("SPDNN_CONV_CLUSTER", "1"))
    for (int slices : {8, 4}) add({.rows = p.capped(32), .threads = 512, .cluster_slices = slices, .bound = 512});
  return out;
}

}  // namespace spdnn
