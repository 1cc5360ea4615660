// Host-side construction of the sliced-ELL layout (see sliced_ell.hpp).
#include "challenge/cuda/sliced_ell.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <numeric>
#include <optional>

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
                                std::vector<int32_t> out_order, const LayerKernelConfig& kernel) {
  const int32_t chunk_capacity = kernel.chunk_capacity, per = kernel.outputs_per_thread, threads = kernel.threads;
  if (chunk_capacity <= 0 || chunk_capacity > 65536)
    throw Error(Errc::unsupported, fmt::format("sliced ELL: chunk capacity {} outside 1..65536 (16-bit slots)", chunk_capacity));
  if (per <= 0 || threads <= 0) throw Error(Errc::unsupported, "sliced ELL: threads and outputs per thread must be positive");
  SlicedEllLayer s;
  s.neurons = static_cast<int32_t>(t.rows);
  s.kernel = kernel;
  s.out_order = std::move(out_order);
  const int32_t n = s.neurons, tile_outputs = kernel.tile_outputs();
  const int32_t tiles = (n + tile_outputs - 1) / tile_outputs;
  s.tile_chunks.push_back(0);
  std::vector<int32_t> footprint, slot_of(static_cast<size_t>(t.cols), -1), by_position;
  // Marks the positions already in the chunk being cut (position_stamp[p] == stamp).
  const int32_t positions = in_position.empty() ? 0 : *std::max_element(in_position.begin(), in_position.end()) + 1;
  std::vector<int32_t> position_stamp(static_cast<size_t>(positions), 0);
  int32_t stamp = 0;
  struct Entry {
    int32_t input, output;  // output: which of the thread's outputs
    float value;
  };
  std::vector<std::vector<Entry>> steps(static_cast<size_t>(threads));  // per thread, in this chunk
  for (int32_t tile = 0; tile < tiles; ++tile) {
    const int32_t first = tile * tile_outputs, last = std::min(n, first + tile_outputs);
    footprint.clear();
    for (int32_t p = first; p < last; ++p)
      for (int32_t i : t.row_cols(s.out_order[p])) footprint.push_back(i);
    std::sort(footprint.begin(), footprint.end());
    footprint.erase(std::unique(footprint.begin(), footprint.end()), footprint.end());
    // Chunks: consecutive ranges of input ids, each as long as its distinct positions (the slots it
    // stages) fit the capacity; inside one, slots follow the physical position so the staging reads are as
    // contiguous as the previous layer's order allows. Without groups every input has its own position;
    // with them (structure mode) a tile's footprint has about 16 inputs a position, and cutting by inputs
    // would split it into many chunks that each pad every thread to the widest one.
    for (size_t c0 = 0, c1 = 0; c0 < footprint.size(); c0 = c1) {
      ++stamp;
      for (int32_t distinct = 0; c1 < footprint.size(); ++c1) {
        int32_t& seen = position_stamp[in_position[footprint[c1]]];
        if (seen != stamp && distinct == chunk_capacity) break;
        if (seen != stamp) seen = stamp, ++distinct;
      }
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
      // Each thread's entries in [lo, hi], by input id (its outputs' lists merged); a step per input id.
      int32_t width = 0;
      for (int32_t th = 0; th < threads; ++th) {
        std::vector<Entry>& e = steps[th];
        e.clear();
        for (int32_t j = 0; j < per; ++j) {
          const int32_t p = first + th * per + j;
          if (p >= last) break;
          auto cols = t.row_cols(s.out_order[p]);
          auto vals = t.row_values(s.out_order[p]);
          const auto b = std::lower_bound(cols.begin(), cols.end(), lo) - cols.begin();
          const auto end = std::upper_bound(cols.begin(), cols.end(), hi) - cols.begin();
          for (auto q = b; q < end; ++q) e.push_back({cols[q], j, vals[q]});
        }
        if (per > 1)
          std::sort(e.begin(), e.end(), [](const Entry& a, const Entry& b) { return a.input < b.input; });
        int32_t distinct = 0;
        for (size_t q = 0; q < e.size(); ++q) distinct += q == 0 || e[q].input != e[q - 1].input;
        width = std::max(width, distinct);
      }
      s.chunk_k.push_back(width);
      s.chunk_ell.push_back(static_cast<int64_t>(s.ell_idx.size()));
      const size_t base = s.ell_idx.size();
      s.ell_idx.resize(base + static_cast<size_t>(width) * threads, 0);
      s.ell_val.resize((base + static_cast<size_t>(width) * threads) * per, 0.0f);
      for (int32_t th = 0; th < threads; ++th) {
        int32_t step = -1;
        for (size_t q = 0; q < steps[th].size(); ++q) {
          const Entry& e = steps[th][q];
          if (q == 0 || e.input != steps[th][q - 1].input) ++step;
          const size_t at = base + static_cast<size_t>(step) * threads + th;
          s.ell_idx[at] = static_cast<uint16_t>(slot_of[e.input]);
          s.ell_val[at * per + e.output] = e.value;
        }
      }
    }
    s.tile_chunks.push_back(static_cast<int32_t>(s.chunk_size.size()));
  }
  return s;
}

int64_t padded_work(const CsrMatrix& t, const std::vector<int32_t>& out_order, int32_t per, int64_t limit) {
  if (per <= 1) return t.nnz();
  int64_t work = 0;
  std::vector<int32_t> merged;
  for (size_t p0 = 0; p0 < out_order.size() && work <= limit; p0 += per) {
    merged.clear();
    const size_t p1 = std::min(out_order.size(), p0 + per);
    for (size_t p = p0; p < p1; ++p) {
      auto cols = t.row_cols(out_order[p]);
      merged.insert(merged.end(), cols.begin(), cols.end());
    }
    std::sort(merged.begin(), merged.end());
    work += static_cast<int64_t>(std::unique(merged.begin(), merged.end()) - merged.begin()) * per;
  }
  return work;
}

LayerKernelConfig choose_layer_kernel(const CsrMatrix& t, const std::vector<int32_t>& out_order,
                                      std::span<const LayerKernelConfig> candidates) {
  if (candidates.empty()) throw Error(Errc::unsupported, "sliced ELL: no layer kernel to choose from");
  const auto limit = static_cast<int64_t>(kMaxPaddedWork * static_cast<double>(t.nnz()));
  for (size_t k = 0; k + 1 < candidates.size(); ++k)
    if (padded_work(t, out_order, candidates[k].outputs_per_thread, limit) <= limit) return candidates[k];
  return candidates.back();
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

std::vector<int32_t> position_weights(const LayerOutputs& outputs, const std::vector<int32_t>& out_order) {
  std::vector<int32_t> weights;
  if (outputs.weight.empty()) return weights;
  weights.reserve(out_order.size());
  for (int32_t output : out_order) weights.push_back(outputs.weight[output]);
  return weights;
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

bool fits_kernel(const SlicedEllLayer& s) {
  const int32_t steps = s.kernel.register_steps;
  if (steps == 0 && !s.kernel.single_chunk) return true;
  for (int32_t tile = 0; tile < s.tiles(); ++tile)
    if (s.tile_chunks[tile + 1] - s.tile_chunks[tile] > 1) return false;
  return steps == 0 || s.max_chunk_k() <= steps;
}

std::optional<LayerKernelConfig> whole_row_kernel(int32_t width, size_t shared_limit) {
  int32_t chunk = 1;
  while (chunk < width) chunk *= 2;
  const size_t shared = std::min<size_t>(shared_limit, 128 * 1024);  // 128 KB: one block of 1024 threads an SM
  for (int rows : {16, 8, 4})
    if (static_cast<size_t>(rows) * chunk * sizeof(float) <= shared) return LayerKernelConfig{rows, 1024, 1, chunk, 0, true};
  return std::nullopt;
}

SlicedEllLayer layout_layer(const CsrMatrix& w, const std::vector<int32_t>& previous_order,
                            const LayerGroups* previous_groups, const LayerGroups* groups,
                            std::span<const LayerKernelConfig> candidates, bool output_lists) {
  LayerOutputs outputs = layer_outputs(w, groups);
  const std::vector<int32_t> order = group_outputs(outputs.inputs_of);
  const std::vector<int32_t> positions = input_positions(static_cast<int32_t>(w.rows), previous_order, previous_groups);
  // Kernels that differ only in the steps they hold in registers read one layout: built once.
  auto same_layout = [](const LayerKernelConfig& a, const LayerKernelConfig& b) {
    return a.threads == b.threads && a.outputs_per_thread == b.outputs_per_thread && a.chunk_capacity == b.chunk_capacity;
  };
  SlicedEllLayer s;
  bool built = false;
  for (auto rest = candidates;;) {
    const LayerKernelConfig kernel = choose_layer_kernel(outputs.inputs_of, order, rest);
    if (built && same_layout(s.kernel, kernel)) s.kernel = kernel;
    else s = build_sliced_ell(outputs.inputs_of, positions, order, kernel), built = true;
    if (fits_kernel(s)) break;
    const auto next = std::find(rest.begin(), rest.end(), kernel) + 1;
    if (next == rest.end())
      throw Error(Errc::unsupported,
                  fmt::format("sliced ELL: no candidate kernel fits the layer (the last takes single chunks of at most "
                              "{} steps; its tiles need {} chunks of up to {})", kernel.register_steps > 0 ? kernel.register_steps : s.max_chunk_k(),
                              s.chunks(), s.max_chunk_k()));
    rest = rest.subspan(static_cast<size_t>(next - rest.begin()));
  }
  s.out_weight = position_weights(outputs, s.out_order);
  if (output_lists) {  // the output lists of the rows-alone tail
    const CsrMatrix& t = outputs.inputs_of;
    s.list_ptr.reserve(s.out_order.size() + 1);
    s.list_ptr.push_back(0);
    s.list_pos.reserve(static_cast<size_t>(t.nnz()));
    s.list_val.reserve(static_cast<size_t>(t.nnz()));
    for (int32_t output : s.out_order) {
      for (int64_t q = t.row_ptr[output]; q < t.row_ptr[output + 1]; ++q)
        s.list_pos.push_back(positions[t.col_idx[q]]), s.list_val.push_back(t.values[q]);
      s.list_ptr.push_back(static_cast<int32_t>(s.list_pos.size()));
    }
  }
  return s;
}

std::vector<float> output_lists_row(const SlicedEllLayer& s, const std::vector<float>& in, float bias, float clip) {
  std::vector<float> out(static_cast<size_t>(s.neurons), 0.0f);
  for (int32_t p = 0; p < s.neurons; ++p) {
    float z = 0.0f;
    for (int32_t q = s.list_ptr[p]; q < s.list_ptr[p + 1]; ++q) z += in[s.list_pos[q]] * s.list_val[q];
    out[p] = activated(z, bias, clip);
  }
  return out;
}

std::vector<float> sliced_ell_row(const SlicedEllLayer& s, const std::vector<float>& in, float bias, float clip) {
  const int32_t threads = s.kernel.threads, per = s.kernel.outputs_per_thread, tile_outputs = s.kernel.tile_outputs();
  std::vector<float> out(static_cast<size_t>(s.neurons), 0.0f), acc, staged;
  for (int32_t tile = 0; tile < s.tiles(); ++tile) {
    acc.assign(static_cast<size_t>(tile_outputs), 0.0f);  // [thread][output of the thread]
    for (int32_t c = s.tile_chunks[tile]; c < s.tile_chunks[tile + 1]; ++c) {
      staged.resize(static_cast<size_t>(s.chunk_size[c]));
      for (int32_t f = 0; f < s.chunk_size[c]; ++f) staged[f] = in[s.map[s.chunk_map[c] + f]];
      for (int32_t k = 0; k < s.chunk_k[c]; ++k)
        for (int32_t th = 0; th < threads; ++th) {
          const size_t at = static_cast<size_t>(s.chunk_ell[c]) + static_cast<size_t>(k) * threads + th;
          for (int32_t j = 0; j < per; ++j) acc[th * per + j] += staged[s.ell_idx[at]] * s.ell_val[at * per + j];
        }
    }
    for (int32_t o = 0; o < tile_outputs && tile * tile_outputs + o < s.neurons; ++o) {
      const float z = acc[o];
      out[tile * tile_outputs + o] = activated(z, bias, clip);
    }
  }
  return out;
}

}  // namespace spdnn::cuda
