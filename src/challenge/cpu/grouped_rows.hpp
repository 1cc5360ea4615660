// Rows of Y stored by neuron group, and rows merged with equal ones: the bookkeeping of the cpu
// engine's structure path.
//
// After layer l a row holds one value per group of layer l's output neurons (spdnn/challenge/
// structure.hpp): column s is the value of every neuron in group s. Before layer 1 (no groups) and after
// a layer whose groups are trivial, columns are neurons, as in the general path.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "challenge/cpu/active_rows.hpp"
#include "spdnn/challenge/structure.hpp"

namespace spdnn::cpu {

// Which input each input is computed by: itself, or the row it was found equal to. Chains are followed
// (a row merged into one that is later merged again); -1 marks an input handed to another engine.
class InputRoots {
 public:
  explicit InputRoots(int64_t inputs);
  void merge(int64_t id, int64_t into) { parent_[id] = into; }
  void give_away(int64_t id) { parent_[id] = -1; }
  void add(int64_t id);  // a received input, its own root
  int64_t find(int64_t id);  // -1 if given away
  int64_t size() const { return static_cast<int64_t>(parent_.size()); }
  // For each row of `y`: the ids it stands for (its own first), ascending after that. Afterwards every id
  // points at its root directly, so giving one away leaves the others where they are.
  std::vector<std::vector<int64_t>> members(const ActiveRows& y);

 private:
  std::vector<int64_t> parent_;
};

// Merges every row of `y` that is bitwise equal to an earlier row into it (hash, then compare), keeping
// the order of the rest and adding up their copies. Returns the number of rows merged away.
int64_t merge_equal_rows(ActiveRows& y, InputRoots& roots, int threads);

// Row r of `y` in neuron order, grouped by `g` (nullptr: columns are neurons already).
void expand_row(const ActiveRows& y, int64_t r, const LayerGroups* g, int32_t neurons, std::vector<int32_t>& cols,
                std::vector<float>& vals);
// The inverse: a row in neuron order (one that respects `g`) as one value per group, appended to `y`.
void append_grouped(ActiveRows& y, int64_t id, std::span<const int32_t> cols, std::span<const float> vals,
                    const LayerGroups* g);

// Nonzeros of row r counted over neurons, and whether every neuron of it is at `clip`.
int64_t neuron_nnz(const ActiveRows& y, int64_t r, const LayerGroups* g);
bool saturated(const ActiveRows& y, int64_t r, const LayerGroups* g, int32_t neurons, float clip);

// Takes the saturated rows out of `y` (the others keep their order), appending (id, copies) of each to
// `carried`; returns the inputs they stand for.
int64_t take_saturated(ActiveRows& y, const LayerGroups* g, int32_t neurons, float clip,
                       std::vector<std::pair<int64_t, int64_t>>& carried);

}  // namespace spdnn::cpu
