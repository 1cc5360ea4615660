// Packing a network for the cuda engine (see layer_pack.hpp).
#include "challenge/cuda/layer_pack.hpp"

#include <cuda_fp16.h>
#include <omp.h>

#include <algorithm>

#include "core/parallel_errors.hpp"
#include "spdnn/error.hpp"

namespace spdnn::cuda {

template <class Weight>
PackedNetwork pack_network(const Network& net, const std::vector<int32_t>& keep_order_after,
                           std::span<const LayerKernelConfig> candidates, const NeuronGroups* groups,
                           std::span<const LayerKernelConfig> first_candidates, bool output_lists) {
  const int32_t n = net.neurons, layers = net.num_layers();
  // One feature layout for the whole network: feature-major candidates only, or none.
  const bool feature_major = !candidates.empty() && candidates.front().feature_major;
  if (std::any_of(candidates.begin(), candidates.end(), [&](const LayerKernelConfig& k) { return k.feature_major != feature_major; }))
    throw Error(Errc::unsupported, "layer kernels of both feature layouts given for one network");
  if (feature_major && groups != nullptr) throw Error(Errc::unsupported, "structure mode has no feature-major layout");
  if (!first_candidates.empty() && (groups == nullptr || feature_major ||
                                    std::any_of(first_candidates.begin(), first_candidates.end(),
                                                [](const LayerKernelConfig& k) { return !k.feature_major; })))
    throw Error(Errc::unsupported, "a feature-major first layer is structure mode's, before sliced-ELL layers");
  PackedNetwork p;
  p.first_columns = !first_candidates.empty() && layers > 0;
  p.blob.resize(layers);
  p.layout.resize(layers);
  std::vector<char> exact(layers, 1);
  std::vector<char> keep(layers + 1, 0);
  for (int32_t k : keep_order_after)
    if (k >= 1 && k <= layers) keep[k] = 1;
  std::vector<std::shared_ptr<const std::vector<int32_t>>> kept(layers + 1);
  auto groups_of = [&](int32_t l) -> const LayerGroups* { return groups != nullptr && l >= 0 ? &groups->layers[l] : nullptr; };
  // Layer l's layout needs layer l-1's output order. Each thread walks a contiguous range of layers,
  // transposing each layer once for both its order and its layout; it recomputes only the order of the
  // layer before its range (keeping every transpose instead would cost as much memory as the network).
  const int ranges = std::max(1, std::min<int>(layers, omp_get_max_threads()));
  ParallelErrors errors(ranges);
#pragma omp parallel for schedule(static, 1)
  for (int range = 0; range < ranges; ++range) {
    errors.run(range, [&] {
      const int32_t first = static_cast<int32_t>(int64_t{layers} * range / ranges);
      const int32_t end = static_cast<int32_t>(int64_t{layers} * (range + 1) / ranges);
      std::vector<int32_t> previous;  // output order of layer l - 1; empty: the identity (inputs)
      if (first > 0) previous = group_outputs(layer_outputs(net.layers[first - 1], groups_of(first - 1)).inputs_of);
      for (int32_t l = first; l < end; ++l) {
        bool ok = true;
        std::vector<int32_t> order;
        if (feature_major || (l == 0 && p.first_columns)) {
          ColumnLayer c = feature_major ? layout_columns(net.layers[l], previous, candidates)
                                        : layout_columns(net.layers[l], previous, first_candidates, groups_of(l));
          p.layout[l] = pack_layer<Weight>(c, p.blob[l], ok);
          if (l == 0 && p.first_columns) p.first_order = c.out_order;
          order = std::move(c.out_order);
        } else {
          SlicedEllLayer s = layout_layer(net.layers[l], previous, groups_of(l - 1), groups_of(l), candidates, output_lists);
          p.layout[l] = pack_layer<Weight>(s, p.blob[l], ok);
          order = std::move(s.out_order);
        }
        exact[l] = ok;
        if (keep[l + 1]) kept[l + 1] = std::make_shared<const std::vector<int32_t>>(order);
        previous = std::move(order);
      }
      if (end == layers) p.last_order = std::move(previous);
    });
  }
  errors.rethrow();
  p.exact = std::all_of(exact.begin(), exact.end(), [](char c) { return c != 0; });
  p.last_position = input_positions(n, p.last_order, groups_of(layers - 1));
  for (int32_t k = 1; k <= layers; ++k)
    if (kept[k]) p.order_after[k] = kept[k];
  p.offset.assign(layers + 1, 0);
  for (int32_t l = 0; l < layers; ++l) {
    p.offset[l + 1] = p.offset[l] + p.layout[l].bytes;
    p.max_blob = std::max(p.max_blob, p.layout[l].bytes);
  }
  return p;
}

template PackedNetwork pack_network<float>(const Network&, const std::vector<int32_t>&, std::span<const LayerKernelConfig>,
                                          const NeuronGroups*, std::span<const LayerKernelConfig>, bool);
template PackedNetwork pack_network<__half>(const Network&, const std::vector<int32_t>&, std::span<const LayerKernelConfig>,
                                           const NeuronGroups*, std::span<const LayerKernelConfig>, bool);

}  // namespace spdnn::cuda
