// The cpu engine's structure path. Per layer l, with rows stored one value per group of layer l-1:
//   - W(l) is reduced to one column per group of layer l (its first neuron), numbered by group;
//   - a row visits its input neurons i ascending, reading y[i] from i's group, so each computed output
//     sums the same products in the same order as the general path (bit-identical);
//   - rows that come out bitwise equal are merged (one computed, the others carried as copies), since
//     equal rows stay equal through every later layer;
//   - rows at the clip in every neuron leave, where every later layer keeps such a row so (clip_kept):
//     counted at every later layer with all neurons nonzero, survivors with the clip as features.
// Counts, categories and features are expanded back to every neuron and every input.
#include "challenge/cpu/structure_path.hpp"

#include <omp.h>

#include <algorithm>

#include "challenge/cpu/active_rows.hpp"
#include "challenge/cpu/grouped_rows.hpp"
#include "challenge/cpu/row_product.hpp"
#include "core/parallel_errors.hpp"

namespace spdnn::cpu {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// W restricted to the first column of each group, columns renumbered to groups (rows: all input neurons).
CsrMatrix reduce_columns(const CsrMatrix& w, const LayerGroups& g) {
  CsrMatrix r;
  r.rows = w.rows, r.cols = g.groups();
  r.row_ptr.reserve(static_cast<size_t>(w.rows) + 1);
  for (int64_t i = 0; i < w.rows; ++i) {
    for (int64_t p = w.row_ptr[i]; p < w.row_ptr[i + 1]; ++p) {
      const int32_t j = w.col_idx[p], k = g.group_of[j];
      if (g.first[k] == j) r.col_idx.push_back(k), r.values.push_back(w.values[p]);
    }
    r.row_ptr.push_back(r.nnz());
  }
  return r;
}

// When to look for equal rows. Rows equal now stay equal, so a late merge loses only the work done in
// between: after a look that finds (almost) nothing, the next comes twice as many layers later, and
// a network whose rows never converge pays for O(log L) looks, not L.
class MergeSchedule {
 public:
  bool due(int32_t layers_done) const { return layers_done >= next_; }
  // The look after `layers_done` layers merged `merged` of `rows` rows.
  void looked(int32_t layers_done, int64_t merged, int64_t rows) {
    gap_ = merged * 100 >= rows ? 1 : std::min(gap_ * 2, 1 << 20);
    next_ = layers_done + gap_;
  }

 private:
  int32_t gap_ = 1, next_ = 0;
};

struct ThreadScratch {
  Scratch product;
  std::vector<float> by_group;  // the current row, one value per input group
  explicit ThreadScratch(int64_t n) : product(n), by_group(static_cast<size_t>(n), 0.0f) {}
};

// One layer for rows [begin, end) of `in`; `in_groups` is how `in` is stored (nullptr: by neuron).
void layer_rows(const ActiveRows& in, int64_t begin, int64_t end, const CsrMatrix& w, const LayerGroups* in_groups,
                float bias, float clip, ThreadScratch& s, ActiveRows& out) {
  for (int64_t r = begin; r < end; ++r) {
    int64_t made = 0;
    if (in_groups == nullptr || in_groups->trivial()) {
      made = product_row(stored_row(in, r), w, touches_most(in.row_ptr[r + 1] - in.row_ptr[r], w), bias, clip,
                         s.product, out);
    } else {
      for (int64_t p = in.row_ptr[r]; p < in.row_ptr[r + 1]; ++p) s.by_group[in.cols[p]] = in.vals[p];
      auto by_neuron = [&](auto&& f) {
        const int32_t* group_of = in_groups->group_of.data();
        for (int32_t i = 0; i < static_cast<int32_t>(w.rows); ++i)
          if (const float v = s.by_group[group_of[i]]; v != 0.0f) f(i, v);
      };
      made = product_row(by_neuron, w, true, bias, clip, s.product, out);
      for (int64_t p = in.row_ptr[r]; p < in.row_ptr[r + 1]; ++p) s.by_group[in.cols[p]] = 0.0f;
    }
    if (made > 0) {
      out.ids.push_back(in.ids[r]);
      out.copies.push_back(in.copies[r]);
      out.row_ptr.push_back(out.nnz());
    }
  }
}

// Hands `give` inputs to the exchange, from the last rows backwards: a merged row goes as its
// members, each in neuron order; a row partly given keeps its own id and the rest. Received rows are
// appended, regrouped. Returns the number of rows received.
int64_t exchange_rows(ActiveRows& y, int64_t give, const LayerGroups* g, int32_t neurons, InputRoots& roots,
                      RowExchange& exchange) {
  MovedRows out;
  out.rows.cols = neurons;
  if (give > 0) {
    std::vector<std::vector<int64_t>> members = roots.members(y);
    std::vector<int32_t> cols;
    std::vector<float> vals;
    int64_t r = y.rows() - 1, keep_rows = y.rows();
    for (int64_t left = give; left > 0 && r >= 0; --r) {
      std::vector<int64_t>& m = members[r];
      const int64_t k = std::min<int64_t>(left, static_cast<int64_t>(m.size()));
      expand_row(y, r, g, neurons, cols, vals);
      for (int64_t t = 0; t < k; ++t) {  // from the back: the row's own id (m[0]) goes last
        const int64_t id = m[m.size() - 1 - t];
        out.ids.push_back(id);
        out.rows.col_idx.insert(out.rows.col_idx.end(), cols.begin(), cols.end());
        out.rows.values.insert(out.rows.values.end(), vals.begin(), vals.end());
        out.rows.row_ptr.push_back(out.rows.nnz());
        roots.give_away(id);
      }
      y.copies[r] -= k, left -= k;
      if (y.copies[r] == 0) keep_rows = r;
    }
    out.rows.rows = out.count();
    y.ids.resize(keep_rows), y.copies.resize(keep_rows), y.row_ptr.resize(keep_rows + 1);
    y.cols.resize(y.row_ptr[keep_rows]), y.vals.resize(y.row_ptr[keep_rows]);
  }
  MovedRows in = exchange.trade(std::move(out));
  in.to_neuron_order();  // rows from a GPU part come in its layout
  for (int64_t k = 0; k < in.rows.rows; ++k) {
    roots.add(in.ids[k]);
    append_grouped(y, in.ids[k], in.rows.row_cols(k), in.rows.row_values(k), g);
  }
  return in.rows.rows;
}

}  // namespace

RunResult run_structure(const Network& net, const Features& x, const RunOptions& opt, const NeuronGroups& groups,
                        const std::vector<char>& clip_kept, StructureReport report,
                        std::chrono::steady_clock::time_point started) {
  const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
  const int32_t layers = net.num_layers();
  RunResult result;

  // Preprocess: reduced layers (a trivial layer is used as it is), the inputs, equal inputs merged.
  std::vector<CsrMatrix> reduced(static_cast<size_t>(layers));
  {
    ParallelErrors errors(static_cast<size_t>(layers));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int32_t l = 0; l < layers; ++l)
      errors.run(l, [&] {
        if (!groups.layers[l].trivial()) reduced[l] = reduce_columns(net.layers[l], groups.layers[l]);
      });
    errors.rethrow();
  }
  auto weights = [&](int32_t l) -> const CsrMatrix& { return groups.layers[l].trivial() ? net.layers[l] : reduced[l]; };
  auto stored_by = [&](int32_t done) { return done == 0 ? nullptr : &groups.layers[done - 1]; };
  const auto merge_start = std::chrono::steady_clock::now();
  ActiveRows y = nonempty_rows(x);
  y.copies.assign(static_cast<size_t>(y.rows()), 1);
  InputRoots roots(x.count());
  MergeSchedule schedule;
  const int64_t inputs = y.rows();
  schedule.looked(0, merge_equal_rows(y, roots, threads), inputs);
  report.discovery_s += seconds_since(merge_start);

  if (opt.before_inference) opt.before_inference();
  const auto t1 = std::chrono::steady_clock::now();
  result.preprocess_s = std::chrono::duration<double>(t1 - started).count();
  result.inference_begin_unix = unix_seconds();

  size_t meeting = opt.exchange ? 0 : opt.exchange_after.size();
  std::vector<std::pair<int64_t, int64_t>> carried;  // (input, inputs it stands for) carried at the clip
  int64_t carried_inputs = 0;
  auto carries_at = [&](int32_t k) { return static_cast<size_t>(k) < clip_kept.size() && clip_kept[k]; };
  std::vector<ThreadScratch> scratch;
  for (int t = 0; t < threads; ++t) scratch.emplace_back(net.neurons);
  std::vector<ActiveRows> parts(static_cast<size_t>(threads) * 16);
  ActiveRows spare;
  for (int32_t l = 0; l < layers; ++l) {
    const LayerGroups* in_groups = stored_by(l);
    const LayerGroups* out_groups = stored_by(l + 1);
    advance_rows(y, spare, parts, threads, [&](int64_t begin, int64_t end, int thread, ActiveRows& out) {
      layer_rows(y, begin, end, weights(l), in_groups, net.bias, net.clip, scratch[thread], out);
    });

    if (schedule.due(l + 1)) {
      const auto merge_start = std::chrono::steady_clock::now();
      const int64_t before = y.rows();
      schedule.looked(l + 1, merge_equal_rows(y, roots, threads), before);
      report.row_grouping_s += seconds_since(merge_start);
    }

    LayerStats stats;
    int64_t saturated_inputs = 0;
    // Rows carried here leave no saturated row behind.
    const bool carrying = l + 1 < layers && carries_at(l + 1);
    if (carrying) carried_inputs += take_saturated(y, out_groups, net.neurons, net.clip, carried);
    stats.active_inputs = carried_inputs, stats.nnz = carried_inputs * net.neurons, saturated_inputs = carried_inputs;
    for (int64_t r = 0; r < y.rows(); ++r) {
      stats.active_inputs += y.copies[r];
      stats.nnz += y.copies[r] * neuron_nnz(y, r, out_groups);
      if (!carrying && saturated(y, r, out_groups, net.neurons, net.clip)) saturated_inputs += y.copies[r];
    }
    result.layers.push_back(stats);
    report.distinct_rows.push_back(y.rows());
    report.saturated_rows.push_back(saturated_inputs);
    if (!clip_kept.empty()) report.carried_at_clip.push_back(carried_inputs);

    if (meeting < opt.exchange_after.size() && opt.exchange_after[meeting] == l + 1) {
      ++meeting;
      const ExchangePlan plan = opt.exchange->plan(l + 1, stats.active_inputs, INT64_MAX);
      if (plan.give > 0 || plan.receive > 0)
        exchange_rows(y, plan.give, out_groups, net.neurons, roots, *opt.exchange);
      if (plan.last) meeting = opt.exchange_after.size();
    }
    if (opt.on_layer) opt.on_layer(l + 1, layers);
  }
  if (opt.exchange) opt.exchange->leave();
  result.inference_s = seconds_since(t1);
  result.inference_end_unix = unix_seconds();

  // Every input whose root survived is a category; with features, each gets its root's row.
  // Roots carried at the clip are marked -2: their features are the clip in every neuron.
  std::vector<int64_t> row_of(static_cast<size_t>(roots.size()), -1);
  for (int64_t r = 0; r < y.rows(); ++r) row_of[y.ids[r]] = r;
  for (const auto& [id, copies] : carried) row_of[id] = -2;
  CsrMatrix f;
  f.rows = roots.size(), f.cols = net.neurons;
  std::vector<int32_t> cols;
  std::vector<float> vals;
  for (int64_t id = 0; id < roots.size(); ++id) {
    const int64_t root = roots.find(id);
    const int64_t r = root >= 0 ? row_of[root] : -1;
    if (r >= 0 || r == -2) {
      result.categories.push_back(id + 1);
      if (opt.keep_features) {
        if (r >= 0) {
          expand_row(y, r, stored_by(layers), net.neurons, cols, vals);
        } else {
          cols.resize(net.neurons), vals.assign(net.neurons, net.clip);
          for (int32_t j = 0; j < net.neurons; ++j) cols[j] = j;
        }
        f.col_idx.insert(f.col_idx.end(), cols.begin(), cols.end());
        f.values.insert(f.values.end(), vals.begin(), vals.end());
      }
    }
    if (opt.keep_features) f.row_ptr.push_back(f.nnz());
  }
  if (opt.keep_features) result.features = std::move(f);
  result.structure = std::move(report);
  return result;
}

}  // namespace spdnn::cpu
