// Which layers keep a row at the clip there (spdnn/challenge/structure.hpp: clip_row_kept).
//
// A row with every neuron at the clip is one fixed input; each layer's output for it is computed once
// here, in the engines' arithmetic (products and sums rounded separately, inputs ascending: row i of W
// before row i + 1), and compared bit for bit with the clip. Layers are independent, so they go in
// parallel; the cost is one pass over the network's nonzeros.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "spdnn/challenge/structure.hpp"

namespace spdnn {

namespace {

// Whether layer w maps the row at the clip to the row at the clip.
bool keeps_clip_row(const CsrMatrix& w, float bias, float clip) {
  std::vector<float> acc(static_cast<size_t>(w.cols), 0.0f);
  for (int32_t i = 0; i < w.rows; ++i)
    for (int64_t q = w.row_ptr[i]; q < w.row_ptr[i + 1]; ++q) {
      const float product = clip * w.values[q];  // rounded before the sum, as every engine does
      acc[w.col_idx[q]] += product;
    }
  // A zero sum stays zero (no bias), and zero is not the clip.
  return std::all_of(acc.begin(), acc.end(), [&](float z) { return z != 0.0f && std::min(std::max(z + bias, 0.0f), clip) == clip; });
}

}  // namespace

std::vector<char> clip_row_kept(const Network& net, int threads) {
  const int32_t layers = net.num_layers();
  std::vector<char> keeps(layers, 0), kept(layers + 1, 0);
  if (!(net.clip > 0.0f)) return kept;  // a row at a clip of zero or less is not active
  kept[layers] = 1;
  const int t = threads > 0 ? threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(t)
  for (int32_t l = 0; l < layers; ++l) keeps[l] = keeps_clip_row(net.layers[l], net.bias, net.clip) ? 1 : 0;
  for (int32_t l = layers - 1; l >= 0; --l) kept[l] = keeps[l] && kept[l + 1];
  return kept;
}

}  // namespace spdnn
