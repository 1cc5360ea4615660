// Planning structure mode's first layer as counts (see first_layer_counts.hpp). Plain C++, tested on the CPU.
#include "challenge/cuda/first_layer_counts.hpp"

#include <algorithm>

#include "challenge/cuda/bit_counts.hpp"
#include "challenge/cuda/sliced_ell.hpp"

namespace spdnn::cuda {

std::optional<FirstLayerCounts> plan_first_layer_counts(const CsrMatrix& w, const LayerGroups* groups,
                                                        const std::vector<int32_t>& out_order, float in_value,
                                                        float bias, float clip) {
  const LayerOutputs outputs = layer_outputs(w, groups);
  const CsrMatrix& t = outputs.inputs_of;
  if (t.nnz() == 0 || static_cast<int64_t>(out_order.size()) != t.rows) return std::nullopt;
  const float weight = t.values.front();
  if (std::any_of(t.values.begin(), t.values.end(), [&](float v) { return v != weight; })) return std::nullopt;
  FirstLayerCounts plan;
  plan.ptr.push_back(0);
  int64_t longest = 0;
  for (int32_t output : out_order) {
    longest = std::max(longest, t.row_nnz(output));
    plan.pos.insert(plan.pos.end(), t.row_cols(output).begin(), t.row_cols(output).end());
    plan.ptr.push_back(static_cast<int32_t>(plan.pos.size()));
  }
  if (longest > BitCounts::kMax) return std::nullopt;
  plan.weight = position_weights(outputs, out_order);
  const float product = in_value * weight;  // every on input's product, rounded once
  float sum = 0.0f;
  plan.table.push_back(activated(sum, bias, clip));
  for (int64_t k = 1; k <= longest; ++k) {
    sum = sum + product;
    plan.table.push_back(activated(sum, bias, clip));
  }
  return plan;
}

std::vector<float> first_layer_counts_row(const FirstLayerCounts& plan, const std::vector<float>& in) {
  std::vector<float> out(plan.ptr.size() - 1);
  for (size_t p = 0; p + 1 < plan.ptr.size(); ++p) {
    int k = 0;
    for (int32_t q = plan.ptr[p]; q < plan.ptr[p + 1]; ++q) k += in[plan.pos[q]] != 0.0f;
    out[p] = plan.table[k];
  }
  return out;
}

}  // namespace spdnn::cuda
