#include "challenge/cpu/grouped_rows.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>

namespace spdnn::cpu {

InputRoots::InputRoots(int64_t inputs) : parent_(static_cast<size_t>(inputs)) {
  for (int64_t i = 0; i < inputs; ++i) parent_[i] = i;
}

void InputRoots::add(int64_t id) {
  if (id >= size()) {
    const int64_t old = size();
    parent_.resize(static_cast<size_t>(id) + 1, -1);
    for (int64_t i = old; i <= id; ++i) parent_[i] = -1;  // numbers not (yet) received belong to no one
  }
  parent_[id] = id;
}

int64_t InputRoots::find(int64_t id) {
  int64_t root = id;
  while (root >= 0 && parent_[root] != root) root = parent_[root];
  while (id >= 0 && id != root) {  // point the whole chain at the root
    const int64_t next = parent_[id];
    parent_[id] = root, id = next;
  }
  return root;
}

std::vector<std::vector<int64_t>> InputRoots::members(const ActiveRows& y) {
  std::vector<int64_t> row_of(parent_.size(), -1);
  for (int64_t r = 0; r < y.rows(); ++r) row_of[y.ids[r]] = r;
  std::vector<std::vector<int64_t>> m(static_cast<size_t>(y.rows()));
  for (int64_t r = 0; r < y.rows(); ++r) m[r].push_back(y.ids[r]);
  for (int64_t id = 0; id < size(); ++id) {  // find() leaves every id pointing at its root directly
    const int64_t root = find(id);
    if (root >= 0 && root != id && row_of[root] >= 0) m[row_of[root]].push_back(id);
  }
  return m;
}

namespace {

uint64_t row_hash(const ActiveRows& y, int64_t r) {
  uint64_t h = 0xcbf29ce484222325ull ^ static_cast<uint64_t>(y.row_ptr[r + 1] - y.row_ptr[r]);
  for (int64_t p = y.row_ptr[r]; p < y.row_ptr[r + 1]; ++p) {
    h = (h ^ (static_cast<uint64_t>(static_cast<uint32_t>(y.cols[p])) << 32 | std::bit_cast<uint32_t>(y.vals[p]))) *
        0x100000001b3ull;
    h ^= h >> 29;
  }
  return h;
}

bool same_row(const ActiveRows& y, int64_t a, int64_t b) {
  const int64_t n = y.row_ptr[a + 1] - y.row_ptr[a];
  if (n != y.row_ptr[b + 1] - y.row_ptr[b]) return false;
  return std::equal(y.cols.begin() + y.row_ptr[a], y.cols.begin() + y.row_ptr[a + 1], y.cols.begin() + y.row_ptr[b]) &&
         std::equal(y.vals.begin() + y.row_ptr[a], y.vals.begin() + y.row_ptr[a + 1], y.vals.begin() + y.row_ptr[b],
                    [](float u, float v) { return std::bit_cast<uint32_t>(u) == std::bit_cast<uint32_t>(v); });
}

}  // namespace

int64_t merge_equal_rows(ActiveRows& y, InputRoots& roots, int threads) {
  const int64_t n = y.rows();
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t r = 0; r < n; ++r) keyed[r] = {row_hash(y, r), r};
  std::sort(keyed.begin(), keyed.end());
  std::vector<int64_t> into(static_cast<size_t>(n));
  std::vector<int64_t> reps;
  int64_t merged = 0;
  for (size_t b = 0; b < keyed.size();) {
    size_t e = b;
    while (e < keyed.size() && keyed[e].first == keyed[b].first) ++e;
    reps.clear();
    for (size_t k = b; k < e; ++k) {  // ascending r: the representative is the earliest row
      const int64_t r = keyed[k].second;
      auto found = std::find_if(reps.begin(), reps.end(), [&](int64_t q) { return same_row(y, q, r); });
      if (found != reps.end()) into[r] = *found, ++merged;
      else into[r] = r, reps.push_back(r);
    }
    b = e;
  }
  if (merged == 0) return 0;
  // Representatives come before what merges into them, so their copies are added up in place first.
  for (int64_t r = 0; r < n; ++r)
    if (into[r] != r) y.copies[into[r]] += y.copies[r], roots.merge(y.ids[r], y.ids[into[r]]);
  // Compact the kept rows forward, in order.
  int64_t kept = 0, begin = 0;
  for (int64_t r = 0; r < n; ++r) {
    const int64_t end = y.row_ptr[r + 1];  // read before row_ptr[kept + 1] (kept <= r) is written
    if (into[r] == r) {
      const int64_t to = y.row_ptr[kept];
      std::copy(y.cols.begin() + begin, y.cols.begin() + end, y.cols.begin() + to);
      std::copy(y.vals.begin() + begin, y.vals.begin() + end, y.vals.begin() + to);
      y.ids[kept] = y.ids[r], y.copies[kept] = y.copies[r];
      y.row_ptr[kept + 1] = to + (end - begin);
      ++kept;
    }
    begin = end;
  }
  y.ids.resize(kept), y.copies.resize(kept), y.row_ptr.resize(kept + 1);
  y.cols.resize(y.row_ptr[kept]), y.vals.resize(y.row_ptr[kept]);
  return merged;
}

void expand_row(const ActiveRows& y, int64_t r, const LayerGroups* g, int32_t neurons, std::vector<int32_t>& cols,
                std::vector<float>& vals) {
  cols.clear(), vals.clear();
  if (g == nullptr || g->trivial()) {
    cols.assign(y.cols.begin() + y.row_ptr[r], y.cols.begin() + y.row_ptr[r + 1]);
    vals.assign(y.vals.begin() + y.row_ptr[r], y.vals.begin() + y.row_ptr[r + 1]);
    return;
  }
  std::vector<float> by_group(static_cast<size_t>(g->groups()), 0.0f);
  for (int64_t p = y.row_ptr[r]; p < y.row_ptr[r + 1]; ++p) by_group[y.cols[p]] = y.vals[p];
  for (int32_t j = 0; j < neurons; ++j)
    if (const float v = by_group[g->group_of[j]]; v != 0.0f) cols.push_back(j), vals.push_back(v);
}

void append_grouped(ActiveRows& y, int64_t id, std::span<const int32_t> cols, std::span<const float> vals,
                    const LayerGroups* g) {
  y.ids.push_back(id);
  y.copies.push_back(1);
  for (size_t p = 0; p < cols.size(); ++p) {
    const int32_t j = cols[p];
    if (g == nullptr || g->trivial()) y.cols.push_back(j), y.vals.push_back(vals[p]);
    else if (g->first[g->group_of[j]] == j) y.cols.push_back(g->group_of[j]), y.vals.push_back(vals[p]);
  }
  y.row_ptr.push_back(y.nnz());
}

int64_t neuron_nnz(const ActiveRows& y, int64_t r, const LayerGroups* g) {
  if (g == nullptr || g->trivial()) return y.row_ptr[r + 1] - y.row_ptr[r];
  int64_t n = 0;
  for (int64_t p = y.row_ptr[r]; p < y.row_ptr[r + 1]; ++p) n += g->size[y.cols[p]];
  return n;
}

bool saturated(const ActiveRows& y, int64_t r, const LayerGroups* g, int32_t neurons, float clip) {
  const int64_t width = g == nullptr || g->trivial() ? neurons : g->groups();
  return y.row_ptr[r + 1] - y.row_ptr[r] == width &&
         std::all_of(y.vals.begin() + y.row_ptr[r], y.vals.begin() + y.row_ptr[r + 1], [&](float v) { return v == clip; });
}

int64_t take_saturated(ActiveRows& y, const LayerGroups* g, int32_t neurons, float clip,
                       std::vector<std::pair<int64_t, int64_t>>& carried) {
  int64_t inputs = 0, kept = 0, p = 0;
  for (int64_t r = 0; r < y.rows(); ++r) {
    const int64_t begin = y.row_ptr[r], end = y.row_ptr[r + 1];
    if (saturated(y, r, g, neurons, clip)) {
      carried.emplace_back(y.ids[r], y.copies[r]);
      inputs += y.copies[r];
      continue;
    }
    y.ids[kept] = y.ids[r], y.copies[kept] = y.copies[r];
    for (int64_t q = begin; q < end; ++q, ++p) y.cols[p] = y.cols[q], y.vals[p] = y.vals[q];
    y.row_ptr[++kept] = p;
  }
  y.ids.resize(kept), y.copies.resize(kept), y.row_ptr.resize(kept + 1), y.cols.resize(p), y.vals.resize(p);
  return inputs;
}

}  // namespace spdnn::cpu
