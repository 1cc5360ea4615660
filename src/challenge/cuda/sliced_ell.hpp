// Sliced ELLPACK with shared-memory footprints: the CUDA engine's weight layout, built on the host.
//
// Output neurons are put in an order that groups columns with equal or similar input sets (sorted by
// their input lists), then cut into tiles of `tile_outputs()` consecutive outputs (one CUDA block).
// A tile's footprint, the inputs any of its outputs reads, is cut into chunks of consecutive inputs that
// sit at most `chunk_capacity` positions: each chunk is staged in shared memory for a batch of feature
// rows (inputs at one position, equivalent neurons in structure mode, share a slot), and the
// tile's threads consume it through 16-bit slot indices. A thread computes `outputs_per_thread`
// consecutive outputs over the merged list of their inputs: one slot per step and one weight per output,
// 0 where an output does not read that input. Entries are ordered by input id, and chunks are
// consecutive ranges of input ids, so every output sums its inputs in ascending input order, the same
// order as the CPU engines: results are bit-identical. (A padding product is y * 0 = +-0, and a sum that
// starts at +0 is never -0 in round-to-nearest, so adding it changes nothing; features are finite.)
//
// Plain C++ (no CUDA) so that it is tested on machines without a GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "challenge/cuda/layer_args.hpp"
#include "spdnn/challenge/structure.hpp"
#include "spdnn/csr.hpp"

namespace spdnn::cuda {

struct SlicedEllLayer {
  int32_t neurons = 0;               // outputs computed (all neurons, or one per group in structure mode)
  LayerKernelConfig kernel;          // the launch shape this layout was built for
  std::vector<int32_t> out_order;    // physical output position -> output neuron
  std::vector<int32_t> tile_chunks;  // tiles + 1: chunk range of each tile
  // Per chunk (the arrays below are indexed by chunk):
  std::vector<int64_t> chunk_map;    // offset into `map`
  std::vector<int32_t> chunk_size;   // slots staged: the chunk's distinct positions (<= chunk_capacity)
  std::vector<int64_t> chunk_ell;    // offset into ell_idx ([k][threads] per chunk); ell_val's is this x outputs_per_thread
  std::vector<int32_t> chunk_k;      // ELL width of the chunk (max steps of one thread)
  std::vector<int32_t> map;          // physical positions (in the previous layer's order) to stage
  std::vector<uint16_t> ell_idx;     // [k][thread]: slot in the chunk's staged inputs
  std::vector<float> ell_val;        // [k][thread][output of the thread]: weight; 0 for padding
  // Structure mode: per physical output position, the neurons its value stands for (its group's size),
  // so that the nonzeros counted are those of every neuron. Empty: one each.
  std::vector<int32_t> out_weight;
  // Where asked (layout_layer): each physical output position's inputs as physical positions, in
  // summation order (ascending input id), with their weights: what rows alone walk (row_tail.hpp).
  // Empty otherwise.
  std::vector<int32_t> list_ptr;  // outputs + 1
  std::vector<int32_t> list_pos;
  std::vector<float> list_val;

  int32_t tiles() const { return static_cast<int32_t>(tile_chunks.size()) - 1; }
  int32_t chunks() const { return static_cast<int32_t>(chunk_size.size()); }
  int32_t max_chunk_k() const;
};

// Both functions take `inputs_of`, the layer transposed (row j: the inputs of output j, ascending),
// so that a caller transposes each layer once.

// The column order that groups outputs reading the same inputs (a permutation of 0..N-1).
std::vector<int32_t> group_outputs(const CsrMatrix& inputs_of);

// `in_position[i]` is where input neuron i sits in the feature rows (the previous layer's out_order
// inverted; the identity for layer 1). `out_order` is this layer's output order (group_outputs).
SlicedEllLayer build_sliced_ell(const CsrMatrix& inputs_of, const std::vector<int32_t>& in_position,
                                std::vector<int32_t> out_order, const LayerKernelConfig& kernel);

// Multiply-adds a layer costs with `per` outputs a thread over `out_order`: each run of `per` outputs
// walks the union of their inputs. Equals inputs_of.nnz() for per = 1; on RadiX-Net (groups of 16
// columns with one input set) also for 2 and 4; about `per` times it on a random network. Stops
// counting once past `limit`.
int64_t padded_work(const CsrMatrix& inputs_of, const std::vector<int32_t>& out_order, int32_t per,
                    int64_t limit = std::numeric_limits<int64_t>::max());

// The first of `candidates` (most outputs per thread first) whose padded work is at most
// kMaxPaddedWork times the nonzeros; the last one otherwise.
inline constexpr double kMaxPaddedWork = 1.5;
LayerKernelConfig choose_layer_kernel(const CsrMatrix& inputs_of, const std::vector<int32_t>& out_order,
                                      std::span<const LayerKernelConfig> candidates);

// Whether the layout suits its kernel: always, unless the kernel holds steps in registers
// (LayerKernelConfig::register_steps), which needs every tile to be one chunk of at most that many steps,
// or takes single chunks only (LayerKernelConfig::single_chunk).
bool fits_kernel(const SlicedEllLayer& layer);

// The kernel that stages a tile's whole footprint, for layers that read at most `width` positions (in
// structure mode, the previous layer's groups): 1024 outputs a tile, chunks of `width` rounded up to a
// power of two, and the most rows of 16, 8 and 4 that fit 128 KB of shared memory (one block an SM) and
// the device's `shared_limit` (bytes a block may opt in to); nullopt where 4 rows do not fit (past 8192
// positions on an H100). Where a RadiX-Net period permutes the inputs, a narrow chunk's input ids
// sit at scattered positions and each staged float costs a 32-byte sector; the whole row stages
// contiguously, and a tile needs one pass over its steps however its inputs are spread.
std::optional<LayerKernelConfig> whole_row_kernel(int32_t width, size_t shared_limit = 128 * 1024);

// What a layer computes (spdnn/challenge/structure.hpp): `inputs_of` has one row per computed output,
// its inputs ascending (the layer transposed; in structure mode only the first neuron of each group, row
// k for group k), and `weight` how many neurons each stands for (empty without groups).
struct LayerOutputs {
  CsrMatrix inputs_of;
  std::vector<int32_t> weight;
};
LayerOutputs layer_outputs(const CsrMatrix& w, const LayerGroups* groups);

// Per physical output position (`out_order`), the neurons its value stands for; empty without groups.
std::vector<int32_t> position_weights(const LayerOutputs& outputs, const std::vector<int32_t>& out_order);

// Where each input neuron of a layer sits in the feature rows: the previous layer's physical order
// (`previous_order[p]` = output at position p; empty for the inputs of layer 1: neuron i at i), read
// through the previous layer's groups when it has them (a neuron sits where its group does).
std::vector<int32_t> input_positions(int32_t neurons, const std::vector<int32_t>& previous_order,
                                     const LayerGroups* previous_groups);

// The layout of one layer from the previous layer's order and groups (either may be absent), with its
// own output order and weights, for the kernel choose_layer_kernel picks from `candidates`, or the next
// one it picks from those after it while the layout does not fit (fits_kernel): what the engine packs and
// the tests emulate. Throws Errc::unsupported when the last candidate does not fit either. `output_lists`:
// the layout also gets its output lists (SlicedEllLayer::list_ptr).
SlicedEllLayer layout_layer(const CsrMatrix& w, const std::vector<int32_t>& previous_order,
                            const LayerGroups* previous_groups, const LayerGroups* groups,
                            std::span<const LayerKernelConfig> candidates, bool output_lists = false);

// One feature row through the layer's output lists (SlicedEllLayer::list_ptr) as the rows-alone tail
// computes it (for tests; the lists must be there).
std::vector<float> output_lists_row(const SlicedEllLayer& layer, const std::vector<float>& in, float bias, float clip);

// One feature row through the layer exactly as the kernel computes it (for tests): `in` is indexed
// by physical position, the result by physical output position.
std::vector<float> sliced_ell_row(const SlicedEllLayer& layer, const std::vector<float>& in, float bias, float clip);

}  // namespace spdnn::cuda
