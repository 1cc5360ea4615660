// Host-side construction of the feature-major layout (see column_layout.hpp).
#include "challenge/cuda/column_layout.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "challenge/cuda/sliced_ell.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

ColumnLayer build_column_layer(const CsrMatrix& t, const std::vector<int32_t>& in_position, std::vector<int32_t> out_order,
                               const LayerKernelConfig& kernel) {
  const int32_t per = kernel.outputs_per_thread;
  if (!kernel.feature_major || per <= 0)
    throw Error(Errc::unsupported, "column layout: needs a feature-major kernel with a positive group size");
  ColumnLayer c;
  c.neurons = static_cast<int32_t>(t.rows);
  c.kernel = kernel;
  c.out_order = std::move(out_order);
  const int32_t groups = (c.neurons + per - 1) / per;
  c.group_steps.reserve(static_cast<size_t>(groups) + 1);
  c.group_steps.push_back(0);
  struct Entry {
    int32_t input, output;  // output: which of the group's outputs
    float value;
  };
  std::vector<Entry> e;
  int64_t steps = 0;
  for (int32_t g = 0; g < groups; ++g) {
    // Outputs with one input list (RadiX-Net's groups, and single outputs) take it as it is: a step per
    // input, in ascending input id. The sort below would give the same steps, at half of the layout's
    // time on a RadiX-Net layer.
    const int32_t first = g * per, count = std::min(per, c.neurons - first);
    const auto list = t.row_cols(c.out_order[first]);
    bool one_list = true;
    for (int32_t j = 1; j < count && one_list; ++j) one_list = std::ranges::equal(t.row_cols(c.out_order[first + j]), list);
    if (one_list) {
      for (size_t q = 0; q < list.size(); ++q) {
        c.step_pos.push_back(in_position[list[q]]);
        c.step_val.resize(c.step_val.size() + per, 0.0f);
        for (int32_t j = 0; j < count; ++j) c.step_val[(c.step_pos.size() - 1) * per + j] = t.row_values(c.out_order[first + j])[q];
      }
      steps += static_cast<int64_t>(list.size());
    } else {
      e.clear();
      for (int32_t j = 0; j < count; ++j) {
        const int32_t out = c.out_order[first + j];
        auto cols = t.row_cols(out);
        auto vals = t.row_values(out);
        for (size_t q = 0; q < cols.size(); ++q) e.push_back({cols[q], j, vals[q]});
      }
      std::stable_sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.input < b.input; });
      for (size_t q = 0; q < e.size(); ++q) {
        if (q == 0 || e[q].input != e[q - 1].input) {
          c.step_pos.push_back(in_position[e[q].input]);
          c.step_val.resize(c.step_val.size() + per, 0.0f);
          ++steps;
        }
        c.step_val[(c.step_pos.size() - 1) * per + e[q].output] = e[q].value;
      }
    }
    if (steps > std::numeric_limits<int32_t>::max())
      throw Error(Errc::unsupported, fmt::format("column layout: more than 2^31 - 1 steps in one layer ({} outputs a group)", per));
    c.group_steps.push_back(static_cast<int32_t>(steps));
  }
  return c;
}

ColumnLayer layout_columns(const CsrMatrix& w, const std::vector<int32_t>& previous_order,
                           std::span<const LayerKernelConfig> candidates, const LayerGroups* groups) {
  const LayerOutputs outputs = layer_outputs(w, groups);
  std::vector<int32_t> order = group_outputs(outputs.inputs_of);
  const LayerKernelConfig kernel = choose_layer_kernel(outputs.inputs_of, order, candidates);
  ColumnLayer c = build_column_layer(outputs.inputs_of, input_positions(static_cast<int32_t>(w.rows), previous_order, nullptr),
                                     std::move(order), kernel);
  c.out_weight = position_weights(outputs, c.out_order);
  return c;
}

bool groups_share_inputs(const Network& net, int32_t per) {
  if (net.num_layers() == 0) return false;
  const CsrMatrix t = transpose(net.layers[net.num_layers() / 2]);
  const auto limit = static_cast<int64_t>(kMaxPaddedWork * static_cast<double>(t.nnz()));
  return padded_work(t, group_outputs(t), per, limit) <= limit;
}

std::vector<float> column_layer_row(const ColumnLayer& c, const std::vector<float>& in, float bias, float clip) {
  const int32_t per = c.kernel.outputs_per_thread;
  std::vector<float> out(static_cast<size_t>(c.neurons), 0.0f), acc(static_cast<size_t>(per));
  for (int32_t g = 0; g < c.groups(); ++g) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int32_t s = c.group_steps[g]; s < c.group_steps[g + 1]; ++s)
      for (int32_t j = 0; j < per; ++j) acc[j] += in[c.step_pos[s]] * c.step_val[static_cast<size_t>(s) * per + j];
    for (int32_t j = 0; j < per && g * per + j < c.neurons; ++j) {
      const float z = acc[j];
      out[g * per + j] = activated(z, bias, clip);
    }
  }
  return out;
}

}  // namespace spdnn::cuda
