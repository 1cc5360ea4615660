// A layer's arrays (sliced ELL, or the feature-major layout) packed into one byte blob, so a layer moves to the device in one copy
// (all layers at once when resident, one at a time when streamed). Internal to src/challenge/cuda.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "challenge/cuda/column_layout.hpp"
#include "challenge/cuda/exact_products.hpp"
#include "challenge/cuda/layer_args.hpp"
#include "challenge/cuda/sliced_ell.hpp"

namespace spdnn::cuda {

// Byte offsets of each array inside a blob (16-byte aligned); a feature-major layer has only the last three
// and out_weight.
struct BlobLayout {
  size_t tile_chunks, chunk_map, chunk_size, chunk_ell, chunk_k, map, ell_idx, ell_val, out_weight, bytes;
  size_t group_steps, step_pos, step_val;
  size_t list_ptr, list_pos, list_val;  // structure mode's output lists (SlicedEllLayer::list_ptr)
  bool listed = false;
  int32_t tiles = 0;
  int32_t outputs = 0;       // outputs computed (SlicedEllLayer::neurons)
  bool weighted = false;     // out_weight present (structure mode)
  LayerKernelConfig kernel;  // the kernel the layout was built for
  // Feature-major layers: the stored weights' exponents when all are powers of two (exact_products.hpp),
  // and whether the layer runs with fused multiply-adds (set by the engine, which knows the inputs).
  std::optional<WeightExponents> exponents;
  bool fused = false;
};

inline size_t align16(size_t n) { return (n + 15) / 16 * 16; }

// Weights as Weight (float or __half); `exact` is cleared if one changed.
template <class Weight>
void store_weights(const std::vector<float>& from, Weight* to, bool& exact) {
  for (size_t i = 0; i < from.size(); ++i) {
    to[i] = static_cast<Weight>(from[i]);
    if (static_cast<float>(to[i]) != from[i]) exact = false;
  }
}

// Lays a blob's arrays out one after another, 16-byte aligned, and copies them in.
class BlobWriter {
 public:
  // `field` gets the array's offset; its bytes are copied by finish().
  template <class T>
  void add(size_t& field, const std::vector<T>& v) {
    copies_.push_back({at_, v.data(), v.size() * sizeof(T)});
    reserve(field, v.size() * sizeof(T));
  }
  // `field` gets the offset of `bytes` that the caller fills after finish().
  void reserve(size_t& field, size_t bytes) { field = at_, at_ = align16(at_ + bytes); }
  // The blob, zeroed and with the added arrays in place; returns its size.
  size_t finish(std::vector<unsigned char>& blob) const {
    blob.assign(at_, 0);
    for (const Copy& c : copies_)
      if (c.bytes > 0) std::memcpy(blob.data() + c.at, c.from, c.bytes);
    return at_;
  }

 private:
  struct Copy {
    size_t at;
    const void* from;
    size_t bytes;
  };
  size_t at_ = 0;
  std::vector<Copy> copies_;
};

// Packs `s` with weights as Weight (float or __half); `exact` is cleared if a weight changed.
template <class Weight>
BlobLayout pack_layer(const SlicedEllLayer& s, std::vector<unsigned char>& blob, bool& exact) {
  BlobLayout b{};
  b.tiles = s.tiles();
  b.outputs = s.neurons;
  b.weighted = !s.out_weight.empty();
  b.kernel = s.kernel;
  BlobWriter w;
  w.add(b.tile_chunks, s.tile_chunks);
  w.add(b.chunk_map, s.chunk_map);
  w.add(b.chunk_size, s.chunk_size);
  w.add(b.chunk_ell, s.chunk_ell);
  w.add(b.chunk_k, s.chunk_k);
  w.add(b.map, s.map);
  w.add(b.ell_idx, s.ell_idx);
  w.reserve(b.ell_val, s.ell_val.size() * sizeof(Weight));
  w.add(b.out_weight, s.out_weight);
  b.listed = !s.list_ptr.empty();
  if (b.listed) {
    w.add(b.list_ptr, s.list_ptr);
    w.add(b.list_pos, s.list_pos);
    w.reserve(b.list_val, s.list_val.size() * sizeof(Weight));
  }
  b.bytes = w.finish(blob);
  store_weights(s.ell_val, reinterpret_cast<Weight*>(blob.data() + b.ell_val), exact);
  if (b.listed) store_weights(s.list_val, reinterpret_cast<Weight*>(blob.data() + b.list_val), exact);
  return b;
}

// Packs a feature-major layer `c` likewise.
template <class Weight>
BlobLayout pack_layer(const ColumnLayer& c, std::vector<unsigned char>& blob, bool& exact) {
  BlobLayout b{};
  b.tiles = c.groups();
  b.outputs = c.neurons;
  b.weighted = !c.out_weight.empty();
  b.kernel = c.kernel;
  BlobWriter w;
  w.add(b.group_steps, c.group_steps);
  w.add(b.step_pos, c.step_pos);
  w.reserve(b.step_val, c.step_val.size() * sizeof(Weight));
  w.add(b.out_weight, c.out_weight);
  b.bytes = w.finish(blob);
  auto* stored = reinterpret_cast<Weight*>(blob.data() + b.step_val);
  store_weights(c.step_val, stored, exact);
  b.exponents = power_of_two_exponents(std::span<const Weight>(stored, c.step_val.size()));
  return b;
}

// Kernel arguments pointing into a blob that lives at `base` on the device.
template <class Weight>
void bind_layer(LayerArgs<Weight>& a, const BlobLayout& b, const unsigned char* base) {
  a.outputs = b.outputs;
  a.out_weight = b.weighted ? reinterpret_cast<const int32_t*>(base + b.out_weight) : nullptr;
  if (b.kernel.feature_major) {
    a.group_steps = reinterpret_cast<const int32_t*>(base + b.group_steps);
    a.step_pos = reinterpret_cast<const int32_t*>(base + b.step_pos);
    a.step_val = reinterpret_cast<const Weight*>(base + b.step_val);
    return;
  }
  a.tile_chunks = reinterpret_cast<const int32_t*>(base + b.tile_chunks);
  a.chunk_map = reinterpret_cast<const int64_t*>(base + b.chunk_map);
  a.chunk_size = reinterpret_cast<const int32_t*>(base + b.chunk_size);
  a.chunk_ell = reinterpret_cast<const int64_t*>(base + b.chunk_ell);
  a.chunk_k = reinterpret_cast<const int32_t*>(base + b.chunk_k);
  a.map = reinterpret_cast<const int32_t*>(base + b.map);
  a.ell_idx = reinterpret_cast<const uint16_t*>(base + b.ell_idx);
  a.ell_val = reinterpret_cast<const Weight*>(base + b.ell_val);
}

}  // namespace spdnn::cuda
