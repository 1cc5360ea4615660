// The feature-major layout: the weights of column_kernel.cuh, built on the host.
//
// Features are stored position-major (all rows of one input position contiguous), so a warp of 32 rows
// reads one position as 128 contiguous bytes, however the previous layer ordered its outputs; nothing is
// staged in shared memory. Outputs are ordered as in the sliced-ELL layout (group_outputs: equal input
// sets together) and cut into groups of `outputs_per_thread` consecutive outputs, one CUDA block each. A
// group walks the merged list of its outputs' inputs, ascending by input id: one step per input, its
// physical position and one weight per output, 0 where an output does not read it. Each output thus sums
// its inputs in ascending input order with separately rounded products, as the CPU engines do, and the
// padding adds +0 to a sum that is never -0 (sliced_ell.hpp says why): results are bit-identical.
//
// Plain C++ (no CUDA) so that it is tested on machines without a GPU.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "challenge/cuda/layer_args.hpp"
#include "spdnn/challenge/network.hpp"
#include "spdnn/challenge/structure.hpp"
#include "spdnn/csr.hpp"

namespace spdnn::cuda {

struct ColumnLayer {
  int32_t neurons = 0;               // outputs computed
  LayerKernelConfig kernel;          // feature_major; outputs_per_thread outputs a group
  std::vector<int32_t> out_order;    // physical output position -> output neuron
  std::vector<int32_t> group_steps;  // groups + 1: the step range of each group
  std::vector<int32_t> step_pos;     // per step: the input's physical position (previous layer's order)
  std::vector<float> step_val;       // [step][output of the group]: weight; 0 for padding
  // Structure mode: per physical output position, the neurons its value stands for (its group's size),
  // so that the nonzeros counted are those of every neuron. Empty: one each.
  std::vector<int32_t> out_weight;

  int32_t groups() const { return static_cast<int32_t>(group_steps.size()) - 1; }
};

// `inputs_of`: the layer transposed (row j: the inputs of output j, ascending); `in_position[i]`: where
// input neuron i sits (sliced_ell.hpp: input_positions); `out_order`: this layer's output order.
// Throws Errc::unsupported past 2^31 - 1 padded steps.
ColumnLayer build_column_layer(const CsrMatrix& inputs_of, const std::vector<int32_t>& in_position,
                               std::vector<int32_t> out_order, const LayerKernelConfig& kernel);

// The layout of layer `w` after a layer whose output order was `previous_order` (empty for layer 1), for
// the first of the feature-major `candidates` whose padded work is small enough (choose_layer_kernel).
// With `groups` (structure mode's first layer, whose inputs are neurons) one output per group of
// equivalent neurons, in the order sliced_ell.hpp's layout_layer gives them, so that the next layer's
// sliced-ELL layout reads them where it expects them.
ColumnLayer layout_columns(const CsrMatrix& w, const std::vector<int32_t>& previous_order,
                           std::span<const LayerKernelConfig> candidates, const LayerGroups* groups = nullptr);

// Whether a network's outputs come in groups that share input lists (its middle layer, sorted, pads at
// most kMaxPaddedWork times the nonzeros with `per` outputs a group), where the feature-major layout was
// measured faster; without such groups a group is one output and the sliced-ELL kernels keep the layout.
bool groups_share_inputs(const Network& net, int32_t per = 4);

// One feature row through the layer exactly as the kernel computes it (for tests): `in` is indexed by
// physical position, the result by physical output position.
std::vector<float> column_layer_row(const ColumnLayer& layer, const std::vector<float>& in, float bias, float clip);

}  // namespace spdnn::cuda
