// Which layers keep a row at the clip there (spdnn/challenge/structure.hpp: clip_row_kept).
//
// A row with every neuron at the clip is one fixed input; each layer's output for it is computed once
// here by the cpu engine's own arithmetic (cpu/row_product.hpp) and compared bit for bit with the clip.
// Layers are independent, so they go in parallel; the cost is one pass over the network's nonzeros.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "challenge/cpu/row_product.hpp"
#include "spdnn/challenge/structure.hpp"

namespace spdnn {

namespace {

// Whether layer w maps the row at the clip to the row at the clip (every output nonzero and at the clip).
bool keeps_clip_row(const CsrMatrix& w, float bias, float clip) {
  cpu::Scratch scratch(w.cols);
  cpu::ActiveRows out;
  auto row_at_clip = [&](auto&& f) {
    for (int32_t i = 0; i < w.rows; ++i) f(i, clip);
  };
  const int64_t made = cpu::product_row(row_at_clip, w, true, bias, clip, scratch, out);
  return made == w.cols && std::all_of(out.vals.begin(), out.vals.end(), [&](float v) { return v == clip; });
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
