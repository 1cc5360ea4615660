// Host-side construction of the sliced-ELL layout (see sliced_ell.hpp).
#include "challenge/cuda/sliced_ell.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <numeric>

#include "spdnn/error.hpp"

namespace spdnn::cuda {

int32_t SlicedEllLayer::max_chunk_k() const {
  return chunk_k.empty() ? 0 : *std::max_element(chunk_k.begin(), chunk_k.end());
}

std::vector<int32_t> group_outputs(const CsrMatrix& t) {
  std::vector<int32_t> order(static_cast<size_t>(t.rows));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    auto ca = t.row_cols(a), cb = t.row_cols(b);
    return std::lexicographical_compare(ca.begin(), ca.end(), cb.begin(), cb.end());
  });
  return order;
}

SlicedEllLayer build_sliced_ell(const CsrMatrix& t, const std::vector<int32_t>& in_position,
                                std::vector<int32_t> out_order, int32_t tile_outputs, int32_t chunk_capacity) {
  if (chunk_capacity <= 0 || chunk_capacity > 65536)
    throw Error(Errc::unsupported, fmt::format("sliced ELL: chunk capacity {} outside 1..65536 (16-bit slots)", chunk_capacity));
  SlicedEllLayer s;
  s.neurons = static_cast<int32_t>(t.rows);
  s.tile_outputs = tile_outputs;
  s.chunk_capacity = chunk_capacity;
  s.out_order = std::move(out_order);
  const int32_t n = s.neurons;
  const int32_t tiles = (n + tile_outputs - 1) / tile_outputs;
  s.tile_chunks.push_back(0);
  std::vector<int32_t> footprint, slot_of(static_cast<size_t>(t.cols), -1), by_position;
  for (int32_t tile = 0; tile < tiles; ++tile) {
    const int32_t first = tile * tile_outputs, last = std::min(n, first + tile_outputs);
    footprint.clear();
    for (int32_t p = first; p < last; ++p)
      for (int32_t i : t.row_cols(s.out_order[p])) footprint.push_back(i);
    std::sort(footprint.begin(), footprint.end());
    footprint.erase(std::unique(footprint.begin(), footprint.end()), footprint.end());
    // Chunks: consecutive ranges of input ids; inside one, slots follow the physical position so the
    // staging reads are as contiguous as the previous layer's order allows.
    for (size_t c0 = 0; c0 < footprint.size(); c0 += chunk_capacity) {
      const size_t c1 = std::min(footprint.size(), c0 + chunk_capacity);
      const int32_t lo = footprint[c0], hi = footprint[c1 - 1];
      by_position.assign(footprint.begin() + c0, footprint.begin() + c1);
      std::sort(by_position.begin(), by_position.end(),
                [&](int32_t a, int32_t b) { return in_position[a] < in_position[b]; });
      // Inputs at one position (equivalent neurons of the previous layer, in structure mode) share a slot.
      s.chunk_map.push_back(static_cast<int64_t>(s.map.size()));
      int32_t slots = 0;
      for (size_t k = 0; k < by_position.size(); ++k) {
        const int32_t pos = in_position[by_position[k]];
        if (k == 0 || pos != in_position[by_position[k - 1]]) s.map.push_back(pos), ++slots;
        slot_of[by_position[k]] = slots - 1;
      }
      s.chunk_size.push_back(slots);
      // ELL width: the most entries one output of the tile has in [lo, hi].
      auto range_of = [&](int32_t j) {
        auto cols = t.row_cols(j);
        auto b = std::lower_bound(cols.begin(), cols.end(), lo), e = std::upper_bound(cols.begin(), cols.end(), hi);
        return std::pair{b - cols.begin(), e - cols.begin()};
      };
      int32_t width = 0;
      for (int32_t p = first; p < last; ++p) {
        auto [b, e] = range_of(s.out_order[p]);
        width = std::max(width, static_cast<int32_t>(e - b));
      }
      s.chunk_k.push_back(width);
      s.chunk_ell.push_back(static_cast<int64_t>(s.ell_idx.size()));
      const size_t base = s.ell_idx.size();
      s.ell_idx.resize(base + static_cast<size_t>(width) * tile_outputs, 0);
      s.ell_val.resize(base + static_cast<size_t>(width) * tile_outputs, 0.0f);
      for (int32_t p = first; p < last; ++p) {
        const int32_t j = s.out_order[p];
        auto [b, e] = range_of(j);
        for (int64_t q = b; q < e; ++q) {  // ascending input id
          const size_t at = base + static_cast<size_t>(q - b) * tile_outputs + (p - first);
          s.ell_idx[at] = static_cast<uint16_t>(slot_of[t.col_idx[t.row_ptr[j] + q]]);
          s.ell_val[at] = t.values[t.row_ptr[j] + q];
        }
      }
    }
    s.tile_chunks.push_back(static_cast<int32_t>(s.chunk_size.size()));
  }
  return s;
}

LayerOutputs layer_outputs(const CsrMatrix& w, const LayerGroups* groups) {
  LayerOutputs out;
  CsrMatrix all = transpose(w);
  if (groups == nullptr || groups->trivial()) {
    out.inputs_of = std::move(all);
    return out;
  }
  CsrMatrix& t = out.inputs_of;
  t.rows = groups->groups(), t.cols = all.cols;
  for (int32_t k = 0; k < groups->groups(); ++k) {
    const int32_t j = groups->first[k];
    t.col_idx.insert(t.col_idx.end(), all.row_cols(j).begin(), all.row_cols(j).end());
    t.values.insert(t.values.end(), all.row_values(j).begin(), all.row_values(j).end());
    t.row_ptr.push_back(t.nnz());
  }
  out.weight = groups->size;
  return out;
}

std::vector<int32_t> input_positions(int32_t neurons, const std::vector<int32_t>& previous_order,
                                     const LayerGroups* previous_groups) {
  std::vector<int32_t> at(static_cast<size_t>(neurons));
  if (previous_order.empty()) {
    std::iota(at.begin(), at.end(), 0);
    return at;
  }
  std::vector<int32_t> position(previous_order.size());  // of each previous output (neuron or group)
  for (size_t p = 0; p < previous_order.size(); ++p) position[previous_order[p]] = static_cast<int32_t>(p);
  const bool grouped = previous_groups != nullptr && !previous_groups->trivial();
  for (int32_t i = 0; i < neurons; ++i) at[i] = position[grouped ? previous_groups->group_of[i] : i];
  return at;
}

SlicedEllLayer layout_layer(const CsrMatrix& w, const std::vector<int32_t>& previous_order,
                            const LayerGroups* previous_groups, const LayerGroups* groups, int32_t tile_outputs,
                            int32_t chunk_capacity) {
  LayerOutputs outputs = layer_outputs(w, groups);
  std::vector<int32_t> order = group_outputs(outputs.inputs_of);
  SlicedEllLayer s = build_sliced_ell(outputs.inputs_of, input_positions(static_cast<int32_t>(w.rows), previous_order,
                                                                         previous_groups),
                                      order, tile_outputs, chunk_capacity);
  if (!outputs.weight.empty()) {
    s.out_weight.resize(s.out_order.size());
    for (size_t p = 0; p < s.out_order.size(); ++p) s.out_weight[p] = outputs.weight[s.out_order[p]];
  }
  return s;
}

std::vector<float> sliced_ell_row(const SlicedEllLayer& s, const std::vector<float>& in, float bias, float clip) {
  std::vector<float> out(static_cast<size_t>(s.neurons), 0.0f), acc, staged;
  for (int32_t tile = 0; tile < s.tiles(); ++tile) {
    acc.assign(static_cast<size_t>(s.tile_outputs), 0.0f);
    for (int32_t c = s.tile_chunks[tile]; c < s.tile_chunks[tile + 1]; ++c) {
      staged.resize(static_cast<size_t>(s.chunk_size[c]));
      for (int32_t f = 0; f < s.chunk_size[c]; ++f) staged[f] = in[s.map[s.chunk_map[c] + f]];
      for (int32_t k = 0; k < s.chunk_k[c]; ++k)
        for (int32_t o = 0; o < s.tile_outputs; ++o) {
          const size_t at = static_cast<size_t>(s.chunk_ell[c]) + static_cast<size_t>(k) * s.tile_outputs + o;
          acc[o] += staged[s.ell_idx[at]] * s.ell_val[at];
        }
    }
    for (int32_t o = 0; o < s.tile_outputs && tile * s.tile_outputs + o < s.neurons; ++o) {
      const float z = acc[o];
      out[tile * s.tile_outputs + o] = z != 0.0f ? std::min(std::max(z + bias, 0.0f), clip) : 0.0f;
    }
  }
  return out;
}

}  // namespace spdnn::cuda
