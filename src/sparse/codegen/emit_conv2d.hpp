// CUDA source for a sparse 2-D convolution specialized to one pruned filter (SparseRT-style), written
// from the same pieces as the sparse linear kernel (emit_parts.hpp): the convolution is the linear layer
// Y = W * im2col(X), with im2col never built. A thread computes one output pixel (n, p, q) for a row
// group of out-channels; the load of filter column (c, r, s) is the input pixel (c, p*stride + r*dilation
// - padding, q*stride + s*dilation - padding), at an offset compiled in as an immediate from one of the
// thread's R x S base pointers: the corner's pixel at (r, s), or a zero-filled image where that pixel lies
// in the padding (the bounds tests are made once per thread, not once per load). Loads of one column
// by neighbouring threads are neighbouring pixels, so they coalesce, and the nine taps of a channel reuse
// each pixel through L1.
//
// The whole shape but the batch (sizes, stride, padding, dilation) is compiled in; the batch is an argument.
// Of KernelConfig the emitter uses rows (out-channels per group); cols, the B vertically adjacent output
// pixels (n, p0 + b, q) a thread computes (register blocking: the R taps of a channel's column for B rows
// read R + B - 1 input rows at stride 1, not R * B, so B = 2 loads a third fewer pixels per output and B = 4
// half; yet 40% slower at batch 8, where the kernel is bound by instruction fetch and B doubles the code a
// warp streams: bench/results/sparse_conv_batch8_h200.md); block_slices (K split within a block, as the
// linear kernel splits it: S sets of threads each run a slice of the group's taps for the same pixels, and
// the partial sums are added in slice order through shared memory); cluster_slices (K split over a cluster
// of S blocks, one slice each, on as many SMs: where a group's code is long and its pixels few, as in deep
// layers at batch 8, each SM streams a slice of the code, not all of it: bench/results/conv_lockstep_s39_h100.md);
// prefetch (in filter columns) and bound; threads is a launch parameter; block_groups must be 1
// (why_invalid_conv2d).
// fixed_n changes only how the module is compiled: as for a linear kernel with N compiled in, 1 schedules
// with ptxas -O1 (compile_options), since every offset is a literal either way.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/sparse/conv2d.hpp"
#include "spdnn/sparse/kernel_config.hpp"

namespace spdnn::codegen {

// The kernel's name in the emitted source (extern "C"). Its signature: (const float* x, float* y, unsigned
// images, const float* zeros) with X and Y NCHW of the compiled shape, `images` images (any batch) and
// `zeros` at least conv2d_zeros(shape) zero floats; grid.x * lanes threads
// walk the images * conv2d_thread_items items (B output pixels each), grid.y the row groups (grid_rows(
// config, K): times S, in clusters of (1, S, 1), where K is split over a cluster).
inline constexpr const char* kConv2dKernelName = "spdnn_sparse_conv2d";

// Bumped whenever what the convolution emitter writes changes; hashed into its modules' keys (with the
// linear emitter's kEmitRevision), so that modules of an earlier emitter are rebuilt, not loaded.
// 2: the batch an argument; K split within a block. 3: B output rows a thread. 4: loads from base pointers.
inline constexpr uint64_t kConv2dEmitRevision = 4;

// The zero floats a kernel's loads in the padding read: one input image (C x H x W).
inline int64_t conv2d_zeros(const Conv2dShape& shape) { return shape.channels * shape.height * shape.width; }

// The blocks of B = config.cols output rows of an image (the last one short where B does not divide P), and
// the threads' items of `shape` (its batch included): blocks x Q, B output pixels each.
inline int64_t conv2d_row_blocks(const Conv2dShape& shape, const KernelConfig& config) {
  return (shape.out_height() + config.cols - 1) / config.cols;
}
inline int64_t conv2d_thread_items(const Conv2dShape& shape, const KernelConfig& config) {
  return shape.batch * conv2d_row_blocks(shape, config) * shape.out_width();
}

// Why the convolution emitter cannot produce `config`, or nullopt.
std::optional<std::string> why_invalid_conv2d(const KernelConfig& config);

// What SparseConv2d checks before it touches a device, throwing as its constructor does, each message
// naming the filter (K, C, R, S, stride, padding, dilation; it has no input size yet): `filter`'s geometry
// (Error(usage)), W as K x C*R*S and the bias (Error(mismatch)), a fixed options.config this emitter cannot
// produce (Error(usage)). Returns the geometry on the smallest input the filter fits (batch 1), a valid
// shape.
Conv2dShape checked_conv2d_filter(const CsrMatrix& w, const std::vector<float>& bias, Conv2dShape filter,
                                  const std::optional<KernelConfig>& config);

// CUDA C++ for Y = act(conv(X, W) + bias): W is K x C*R*S (conv2d.hpp's column order), `bias` empty or K
// values, act ReLU when `relu`. Values are exact hexadecimal literals. Throws Error(usage) for an invalid
// shape or configuration and Error(mismatch) for a filter or bias of the wrong size. With `inline_ptx`, the
// group functions' bodies are inline PTX (emit_conv2d_ptx.hpp: the same code, compiled faster) where every
// offset fits PTX's immediates.
std::string emit_sparse_conv2d(const CsrMatrix& w, const std::vector<float>& bias, bool relu, const Conv2dShape& shape,
                               const KernelConfig& config, bool inline_ptx = false);

// The same kernel as separately compiled units, for filters too large for one NVRTC program, as
// emit_sparse_linear_units: units[0] holds the kernel and declarations of the group functions, each later
// unit whole groups of about `unit_nnz` nonzeros in all (extern "C" device functions), linked by nvJitLink.
std::vector<std::string> emit_sparse_conv2d_units(const CsrMatrix& w, const std::vector<float>& bias, bool relu,
                                                  const Conv2dShape& shape, const KernelConfig& config, int64_t unit_nnz,
                                                  bool inline_ptx = false);

}  // namespace spdnn::codegen
