// CUDA source specialized to one sparse weight matrix (SparseRT-style): the sparsity pattern and the
// weight values become immediates of straight-line code, so the kernel reads only X and writes only Y.
// Plain C++ (no CUDA needed): the emitted text is tested on any machine and compiled by NVRTC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::codegen {

// How the generated kernel maps work to threads. Each thread computes `rows_per_group` consecutive
// rows of Y for `cols_per_thread` adjacent columns (loaded as one float/float2/float4), so every X value
// it loads is reused by all nonzeros of those rows in that column of W; grid.y walks the row groups.
//
// A block's time is set by the chain of loads and multiply-adds of its group, not by how many columns
// it serves (bench/results/sparse_explore_h100.md: 256 x 1024 at 90% took 22 us at N = 196 and at
// N = 1568), so long groups at small N leave most SMs idle. These options change the work per block:
// - split K across a thread-block cluster (k_slices = S > 1, sm_90): the S blocks of a cluster each
//   take one slice of the group's columns (contiguous, about equal numbers of nonzeros), write their
//   partial sums to shared memory, and after a cluster barrier block s adds the S partial sums of rows
//   a = s (mod S) in slice order (through distributed shared memory) and stores them. This pays at
//   small N (22 -> 9 us above);
// - split K within a block (block_slices = S > 1): the block's threads form S sets of
//   threads / S, each set a slice of the group's columns for the same columns of X; the partial sums are
//   added in slice order through shared memory, as with clusters. A block of 512 threads with S = 4 covers
//   128 columns of X with four instruction streams of a quarter of the group's code each, where one
//   stream of the whole code made the SM wait for its instructions (256 x 1024 at 90%, N = 1568:
//   19.0 -> 13.6 us);
// - several row groups within a block (block_groups = G > 1): G sets of threads / G threads, each running
//   its own row group for the same columns of X, so that the X they share can be read from L2 once and
//   then hit in L1, and the SM runs G instruction streams (it paid on 2 of 8 layers tried: 256 x 512 at
//   N = 6272, 17.0 -> 14.1 us);
// - column loops (column_blocks = X > 0): grid.x is X and each block walks the columns in steps of
//   X * threads * cols_per_thread; 0 means one block per step of columns (no loop). Measured slower in
//   every case tried, so only reachable through a fixed shape.
// Another raises the launch bound: max_threads = 512 or 1024 caps the registers at 128 or 64 and lets a
// block be that wide. The profile of 256 x 1024 at 90% (ncu, N = 1568: 82% of stalls waiting for
// instructions, 255 registers) says a block runs at the pace its code arrives, and the warps of a block
// share that stream, so wider blocks do more work per instruction fetched. Where ptxas keeps its hoisted
// loads within the cap this pays (1024 x 256 at 90%, N = 1568: 17.7 -> 10.5 us with 512 threads); for
// K = 1024 it spills and loses (24.7 -> 39 us), so it is tuned, not fixed.
inline constexpr int kMaxThreads = 256;  // the generated kernel's default launch bound

// Bumped whenever what the emitter writes changes, so that compiled modules are keyed by it
// (codegen/kernel_cache.hpp) and a module of an earlier emitter is rebuilt, not loaded: a module from
// before revision 1 has no wait for the previous grid and would race under dependent launch. Before
// this constant only spdnn's version keyed the emitted code. 1: waits for the previous grid (0.4.0).
inline constexpr uint64_t kEmitRevision = 1;

struct KernelShape {
  int rows_per_group = 16;
  int cols_per_thread = 1;  // 1, 2 or 4 (then N must be a multiple of it)
  int threads = 128;  // a launch parameter: the same module serves every width up to kMaxThreads
  int k_slices = 1;   // 1, 2, 4 or 8: blocks per cluster, each a slice of the group's columns
  int column_blocks = 0;  // a launch parameter: blocks along the columns, each looping; 0: no loop
  int prefetch = 0;  // loads issued ahead of the multiply-adds that use them (0: each just before)
  int max_threads = kMaxThreads;  // the launch bound: 256, 512 or 1024 (registers <= 65536 / max_threads)
  int block_slices = 1;  // 1, 2, 4 or 8: sets of threads in a block, each a slice of the group's columns
  int block_groups = 1;  // 1, 2, 4 or 8: sets of threads in a block, each a row group (grid.y: groups / G)
  // The row stride of X and Y compiled into the code (then the module serves only N = stride), or 0: the
  // kernel's argument n. Compiled in, each load's and store's offset is an immediate of the instruction
  // instead of one widening multiply-add per load (the address instructions were about a fifth of a
  // 90%-sparse kernel's: 256 x 1024, 32 rows, split K 4: 49.4k -> 41.4k instructions); such modules are
  // compiled with ptxas at -O1 (compile_options below).
  int64_t stride = 0;
  // A launch parameter: at most this many blocks on one SM (the launch asks for shared memory it does not
  // use so that no more fit), or 0: as many as the kernel's resources allow. Built to test whether blocks
  // of several row groups on one SM (each fetching its own code) slowed the kernels that need fewer
  // registers with N compiled in; capping them to ceil(blocks / SMs) changed no time measured (H200,
  // bench/results/sparse_explore_h100.md, item 19), so it is only reachable through a fixed shape.
  int blocks_per_sm = 0;

  bool operator==(const KernelShape&) const = default;
};

// Dynamic shared memory of a launch of `shape`: split K over a cluster double-buffers each thread's
// partial sums, so that one cluster barrier per step of columns suffices; split K within a block keeps one
// buffer between two block barriers.
inline int64_t shared_bytes(const KernelShape& shape) {
  const int64_t sums = int64_t{shape.rows_per_group} * shape.cols_per_thread * shape.threads * 4;
  return shape.k_slices > 1 ? 2 * sums : shape.block_slices > 1 ? sums : 0;
}

// The K slices of a group's code, wherever they run (1: no split).
inline int slices_of(const KernelShape& shape) { return shape.k_slices * shape.block_slices; }

// The sets of threads of a block (each a slice or a row group) and the threads of each: the block's
// columns are lanes(shape) * cols_per_thread.
inline int thread_sets(const KernelShape& shape) { return shape.block_slices * shape.block_groups; }
inline int lanes(const KernelShape& shape) { return shape.threads / thread_sets(shape); }

// grid.y of a launch: the row groups (over G per block), times the blocks of a cluster.
int64_t grid_rows(const KernelShape& shape, int64_t rows);

// Throws Error(usage) for a shape the emitter cannot produce.
void validate(const KernelShape& shape);

// The number of row groups (grid.y) of `shape` for a matrix of `rows` rows.
int64_t row_groups(const KernelShape& shape, int64_t rows);

// The kernel's name in the emitted source (extern "C", so NVRTC does not mangle it).
inline constexpr const char* kKernelName = "spdnn_sparse_linear";

// CUDA C++ for Y = act(W * X + bias): X is K x n and Y is M x n, both row-major float32, `n` a kernel
// argument (which must equal shape.stride when that is not 0). `bias` is empty or has M values; act is
// ReLU when `relu`. Values are written as hexadecimal float literals, so the generated kernel multiplies
// by exactly the stored weights.
std::string emit_sparse_linear(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                               const KernelShape& shape);

// The same kernel as separately compiled units, for matrices too large for one NVRTC program (whose
// compile time grows about quadratically with its source: 4x the nonzeros took 12x longer): units[0]
// holds the kernel and declarations of the group functions, each later unit whole groups of about
// `unit_nnz` nonzeros in all (extern "C" device functions). Compiled with -rdc and linked (nvJitLink),
// they also compile in parallel.
std::vector<std::string> emit_sparse_linear_units(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                                                  const KernelShape& shape, int64_t unit_nnz);

// NVRTC options for the source of emit_sparse_linear: with the stride compiled in, ptxas at -O1. At its
// default -O3 ptxas moved each load of X down to just before its first multiply-add (a median of 8
// instructions apart instead of the 32 columns ahead that the source writes, once the offsets were
// literals: it then schedules for fewer registers), and the kernels waited on every load (128 x 512 at
// 90%, N = 6272, 64 rows, on an H200: 9.6 us with N an argument, 42.3 with N compiled in). At -O1 it keeps
// the written order (a median of 256 instructions apart), with the same instructions and about as many
// registers as with N an argument (7.6 us).
std::vector<std::string> compile_options(const KernelShape& shape);

// NVRTC options for every unit of emit_sparse_linear_units: compile_options, and the register cap of the
// launch bound (-maxrregcount), which the kernel's unit gets from __launch_bounds__ and the others must
// share for nvJitLink to link their calls.
std::vector<std::string> unit_compile_options(const KernelShape& shape);

}  // namespace spdnn::codegen
