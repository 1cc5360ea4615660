// The `cpu` engine: layer by layer over the active inputs only, rows spread over OpenMP threads.
//
// Each layer is a row-wise sparse product (Gustavson): an active row y of Y scatters y[i] * W(i,:) into
// a dense accumulator, visiting i in ascending order, so each output sums in the same order as the
// reference engine and the features are bit-identical to it. Rows that come out empty are dropped
// before the next layer (pruning), and their ids with them.
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "challenge/cpu/active_rows.hpp"
#include "challenge/cpu/engines.hpp"
#include "challenge/cpu/row_product.hpp"
#include "challenge/cpu/structure_path.hpp"
#include "core/parallel_errors.hpp"

namespace spdnn::cpu {

namespace {

// One layer for rows [begin, end) of `in`, appended to `out` (rows that die are not appended).
void layer_rows(const ActiveRows& in, int64_t begin, int64_t end, const CsrMatrix& w, float bias, float clip,
                Scratch& s, ActiveRows& out) {
  for (int64_t r = begin; r < end; ++r)
    if (product_row(stored_row(in, r), w, touches_most(in.row_ptr[r + 1] - in.row_ptr[r], w), bias, clip, s, out) > 0) {
      out.ids.push_back(in.ids[r]);
      out.row_ptr.push_back(out.nnz());
    }
}

// Hands the last `give` rows of `y` to the exchange and appends what comes back (the received ids are
// above every id held, so the rows stay sorted by id). Returns the number of rows received.
int64_t exchange_rows(ActiveRows& y, int64_t give, int64_t neurons, RowExchange& exchange) {
  MovedRows out;
  out.rows.cols = neurons;
  const int64_t first = y.rows() - give;
  for (int64_t r = first; r < y.rows(); ++r) {
    out.ids.push_back(y.ids[r]);
    out.rows.row_ptr.push_back(y.row_ptr[r + 1] - y.row_ptr[first]);
  }
  out.rows.rows = give;
  out.rows.col_idx.assign(y.cols.begin() + y.row_ptr[first], y.cols.end());
  out.rows.values.assign(y.vals.begin() + y.row_ptr[first], y.vals.end());
  y.ids.resize(first), y.row_ptr.resize(first + 1);
  y.cols.resize(y.row_ptr[first]), y.vals.resize(y.row_ptr[first]);
  MovedRows in = exchange.trade(std::move(out));
  in.to_neuron_order();  // rows from a GPU part come in its layout
  for (int64_t r = 0; r < in.rows.rows; ++r) {
    y.ids.push_back(in.ids[r]);
    y.cols.insert(y.cols.end(), in.rows.row_cols(r).begin(), in.rows.row_cols(r).end());
    y.vals.insert(y.vals.end(), in.rows.row_values(r).begin(), in.rows.row_values(r).end());
    y.row_ptr.push_back(y.nnz());
  }
  return in.rows.rows;
}

class ParallelEngine final : public Engine {
 public:
  std::string name() const override { return "cpu"; }
  std::string device() const override { return cpu_description(omp_get_max_threads()); }

  bool has_structure_mode() const override { return true; }

  RunResult run(const Network& net, const Features& x, const RunOptions& opt) override {
    if (opt.mode == Mode::general) return run_general(net, x, opt);
    const auto started = std::chrono::steady_clock::now();
    // Rows at the clip are carried, except with balancing meetings, which move rows.
    StructurePlan plan = plan_structure(net, opt.mode, opt.threads, !opt.exchange);
    if (!plan.groups) {
      RunResult r = run_general(net, x, opt);
      r.preprocess_s += plan.report.discovery_s;
      r.structure = std::move(plan.report);
      return r;
    }
    return run_structure(net, x, opt, *plan.groups, plan.clip_kept, std::move(plan.report), started);
  }

 private:
  RunResult run_general(const Network& net, const Features& x, const RunOptions& opt) {
    const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
    RunResult result;
    auto t0 = std::chrono::steady_clock::now();

    // Preprocess: keep the inputs that have any nonzero.
    ActiveRows y = nonempty_rows(x);
    if (opt.before_inference) opt.before_inference();
    auto t1 = std::chrono::steady_clock::now();
    result.preprocess_s = std::chrono::duration<double>(t1 - t0).count();
    result.inference_begin_unix = unix_seconds();

    // Balancing (partitioned runs): meetings after the layers in opt.exchange_after.
    size_t meeting = opt.exchange ? 0 : opt.exchange_after.size();
    int64_t received = 0;

    std::vector<Scratch> scratch;
    for (int t = 0; t < threads; ++t) scratch.emplace_back(net.neurons);
    std::vector<ActiveRows> parts(static_cast<size_t>(threads) * 16);
    ActiveRows spare;
    for (int32_t l = 0; l < net.num_layers(); ++l) {
      // Chunks in row order, joined in order: the rows stay sorted by input id.
      advance_rows(y, spare, parts, threads, [&](int64_t begin, int64_t end, int thread, ActiveRows& out) {
        layer_rows(y, begin, end, net.layers[l], net.bias, net.clip, scratch[thread], out);
      });
      result.layers.push_back({y.rows(), y.nnz()});
      if (meeting < opt.exchange_after.size() && opt.exchange_after[meeting] == l + 1) {
        ++meeting;
        const ExchangePlan plan = opt.exchange->plan(l + 1, y.rows(), INT64_MAX);
        if (plan.give > 0 || plan.receive > 0) received += exchange_rows(y, plan.give, net.neurons, *opt.exchange);
        if (plan.last) meeting = opt.exchange_after.size();
      }
      if (opt.on_layer) opt.on_layer(l + 1, net.num_layers());
    }
    if (opt.exchange) opt.exchange->leave();
    result.inference_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    result.inference_end_unix = unix_seconds();

    for (int64_t id : y.ids) result.categories.push_back(id + 1);
    if (opt.keep_features) {
      CsrMatrix f;
      f.rows = x.count() + received;
      f.cols = net.neurons;
      f.row_ptr.assign(static_cast<size_t>(f.rows) + 1, 0);
      for (int64_t r = 0; r < y.rows(); ++r) f.row_ptr[y.ids[r] + 1] = y.row_ptr[r + 1] - y.row_ptr[r];
      for (int64_t r = 0; r < f.rows; ++r) f.row_ptr[r + 1] += f.row_ptr[r];
      f.col_idx = std::move(y.cols);
      f.values = std::move(y.vals);
      result.features = std::move(f);
    }
    return result;
  }
};

}  // namespace

std::unique_ptr<Engine> make_parallel_engine() { return std::make_unique<ParallelEngine>(); }

}  // namespace spdnn::cpu
