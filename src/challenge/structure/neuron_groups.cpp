// Discovery of equivalent output neurons (spdnn/challenge/structure.hpp has the definition).
//
// Per layer: each column of W is hashed as the sequence (group of its input neuron in the previous
// layer, bits of its weight), input neurons ascending; columns are sorted by hash and every candidate
// is compared exactly with the representatives of its bucket, so a hash collision costs a comparison,
// never a wrong group.
//
// Layers depend on the previous one's groups, so that grouping goes in order; it is done in two passes
// so that the ordered part is small. Columns with equal raw sequences (input neurons themselves, not
// their groups) are equivalent whatever the previous layer's groups, so the first pass groups raw
// sequences, all layers of a block at once (one thread each, with their transposes); the second, in
// layer order, groups only the first column of each raw group through the previous layer's groups
// (N/16 columns on RadiX-Net). Both give each group its lowest neuron as representative, so the result
// is the one-pass grouping's, numbering included.
#include "spdnn/challenge/structure.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>

#include "core/env.hpp"
#include "core/hash_mix.hpp"
#include "core/parallel_errors.hpp"

namespace spdnn {

std::optional<Mode> parse_mode(std::string_view s) {
  if (s == "general") return Mode::general;
  if (s == "structure") return Mode::structure;
  if (s == "auto") return Mode::automatic;
  return std::nullopt;
}

std::string to_string(Mode m) {
  switch (m) {
    case Mode::general: return "general";
    case Mode::structure: return "structure";
    case Mode::automatic: return "auto";
  }
  return "?";
}

int64_t NeuronGroups::distinct() const {
  int64_t d = 0;
  for (const LayerGroups& g : layers) d += g.groups();
  return d;
}

bool NeuronGroups::pays(int32_t neurons) const {
  return !layers.empty() && distinct() * 4 <= static_cast<int64_t>(neurons) * static_cast<int64_t>(layers.size()) * 3;
}

namespace {

// Column j of the layer is row j of `columns` (its transpose).
struct ColumnView {
  const CsrMatrix& columns;
  const std::vector<int32_t>& input_group;  // previous layer's group_of (identity for layer 1)

  uint64_t hash(int64_t j) const {
    uint64_t h = hash_mix(0, static_cast<uint64_t>(columns.row_nnz(j)));
    for (int64_t p = columns.row_ptr[j]; p < columns.row_ptr[j + 1]; ++p)
      h = hash_mix(h, static_cast<uint64_t>(static_cast<uint32_t>(input_group[columns.col_idx[p]])) << 32 |
                     std::bit_cast<uint32_t>(columns.values[p]));
    return h;
  }
  bool same(int64_t a, int64_t b) const {
    if (columns.row_nnz(a) != columns.row_nnz(b)) return false;
    for (int64_t p = columns.row_ptr[a], q = columns.row_ptr[b]; p < columns.row_ptr[a + 1]; ++p, ++q)
      if (input_group[columns.col_idx[p]] != input_group[columns.col_idx[q]] ||
          std::bit_cast<uint32_t>(columns.values[p]) != std::bit_cast<uint32_t>(columns.values[q]))
        return false;
    return true;
  }
};

// Groups the columns `candidates` (ascending): rep[j] for each of them is the lowest candidate it
// equals (itself if none).
void group_candidates(const ColumnView& view, const std::vector<int32_t>& candidates, std::vector<int32_t>& rep) {
  std::vector<std::pair<uint64_t, int32_t>> keyed(candidates.size());
  for (size_t k = 0; k < candidates.size(); ++k) keyed[k] = {view.hash(candidates[k]), candidates[k]};
  std::sort(keyed.begin(), keyed.end());
  // Within a bucket of equal hashes (ascending j), each column joins the first representative it
  // equals, or becomes one: representatives are the lowest neuron of their group.
  std::vector<int32_t> bucket_reps;
  for (size_t b = 0; b < keyed.size();) {
    size_t e = b;
    while (e < keyed.size() && keyed[e].first == keyed[b].first) ++e;
    bucket_reps.clear();
    for (size_t k = b; k < e; ++k) {
      const int32_t j = keyed[k].second;
      auto found = std::find_if(bucket_reps.begin(), bucket_reps.end(), [&](int32_t r) { return view.same(r, j); });
      if (found != bucket_reps.end()) rep[j] = *found;
      else rep[j] = j, bucket_reps.push_back(j);
    }
    b = e;
  }
}

// Groups numbered by their lowest neuron, from rep[j] <= j (rep[j] == j: the lowest of its group).
LayerGroups number_groups(const std::vector<int32_t>& rep) {
  const auto n = static_cast<int32_t>(rep.size());
  LayerGroups g;
  g.group_of.resize(static_cast<size_t>(n));
  for (int32_t j = 0; j < n; ++j) {
    if (rep[j] == j) g.group_of[j] = g.groups(), g.first.push_back(j), g.size.push_back(0);
    else g.group_of[j] = g.group_of[rep[j]];  // rep[j] < j: numbered already
    ++g.size[g.group_of[j]];
  }
  return g;
}

// First pass: raw[j] = the lowest column with column j's raw sequence.
std::vector<int32_t> raw_groups(const CsrMatrix& columns, const std::vector<int32_t>& identity) {
  std::vector<int32_t> candidates(identity), raw(identity.size());
  group_candidates(ColumnView{columns, identity}, candidates, raw);
  return raw;
}

// Second pass: the raw groups' first columns grouped through the previous layer's groups.
LayerGroups refine(const CsrMatrix& columns, std::vector<int32_t> raw, const std::vector<int32_t>* input_group) {
  if (input_group != nullptr) {
    std::vector<int32_t> firsts;
    for (int32_t j = 0; j < static_cast<int32_t>(raw.size()); ++j)
      if (raw[j] == j) firsts.push_back(j);
    std::vector<int32_t> rep(raw.size());
    group_candidates(ColumnView{columns, *input_group}, firsts, rep);
    for (int32_t& r : raw) r = rep[r];  // a raw group's first column is its lowest, so rep[r] <= r
  }
  return number_groups(raw);
}

}  // namespace

NeuronGroups find_neuron_groups(const Network& net, int threads) {
  const auto start = std::chrono::steady_clock::now();
  net.validate();
  if (threads <= 0) threads = omp_get_max_threads();
  const int32_t n = net.neurons;
  NeuronGroups out;
  std::vector<int32_t> identity(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) identity[i] = i;

  // Blocks of layers: their transposes and raw groups in parallel, then the refinement in order.
  const int32_t block = std::max(2, 2 * threads);
  std::vector<CsrMatrix> columns(static_cast<size_t>(block));
  std::vector<std::vector<int32_t>> raw(static_cast<size_t>(block));
  for (int32_t l0 = 0; l0 < net.num_layers(); l0 += block) {
    const int32_t count = std::min(block, net.num_layers() - l0);
    ParallelErrors errors(static_cast<size_t>(count));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int32_t k = 0; k < count; ++k)
      errors.run(k, [&] {
        columns[k] = transpose(net.layers[l0 + k]);
        raw[k] = raw_groups(columns[k], identity);
      });
    errors.rethrow();
    for (int32_t k = 0; k < count; ++k) {
      const LayerGroups* previous = out.layers.empty() ? nullptr : &out.layers.back();
      out.layers.push_back(refine(columns[k], std::move(raw[k]), previous == nullptr || previous->trivial() ? nullptr : &previous->group_of));
    }
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

StructurePlan plan_structure(const Network& net, Mode mode, int threads, bool carry_rows) {
  StructurePlan plan;
  NeuronGroups groups = find_neuron_groups(net, threads);
  StructureReport& r = plan.report;
  r.discovery_s = groups.seconds;
  for (const LayerGroups& g : groups.layers) r.distinct_neurons.push_back(g.groups());
  const double cells = static_cast<double>(net.neurons) * net.num_layers();
  const double distinct = cells > 0 ? 100.0 * static_cast<double>(groups.distinct()) / cells : 100.0;
  if (mode == Mode::automatic && !groups.pays(net.neurons)) {
    r.mode = Mode::general;
    r.reason = fmt::format("auto: {:.1f}% of neurons are distinct, too many to gain", distinct);
    return plan;
  }
  r.mode = Mode::structure;
  r.reason = fmt::format("{}: {:.1f}% of neurons are distinct", mode == Mode::automatic ? "auto" : "asked for", distinct);
  plan.groups = std::move(groups);
  if (carry_rows && !env_equals("SPDNN_CLIP_ROWS", "0")) {
    const auto start = std::chrono::steady_clock::now();
    plan.clip_kept = clip_row_kept(net, threads);
    r.discovery_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return plan;
}

}  // namespace spdnn
