// The `cpu` engine: layer by layer over the active inputs only, rows spread over OpenMP threads.
//
// Each layer is a row-wise sparse product (Gustavson): an active row y of Y scatters y[i] * W(i,:) into
// a dense accumulator, visiting i in ascending order, so each output sums in the same order as the
// reference engine and the features are bit-identical to it. Rows that come out empty are dropped
// before the next layer (pruning), and their ids with them.
#include <omp.h>

#include <algorithm>
#include <chrono>

#include "challenge/cpu/engines.hpp"
#include "core/parallel_errors.hpp"

namespace spdnn::cpu {

namespace {

// The active rows of Y: a CSR over active inputs plus each row's input id.
struct ActiveRows {
  std::vector<int64_t> ids;
  std::vector<int64_t> row_ptr{0};
  std::vector<int32_t> cols;
  std::vector<float> vals;

  int64_t rows() const { return static_cast<int64_t>(ids.size()); }
  int64_t nnz() const { return static_cast<int64_t>(cols.size()); }
  // Empties the rows but keeps the memory: buffers are reused from layer to layer, because fresh
  // allocations fault their pages in one at a time, and page faults serialize threads.
  void clear() {
    ids.clear(), cols.clear(), vals.clear();
    row_ptr.assign(1, 0);
  }
};

// Per-thread scratch: the dense accumulator and the list of outputs touched in it.
struct Scratch {
  std::vector<float> acc;
  std::vector<uint8_t> touched_mask;
  std::vector<int32_t> touched;
  explicit Scratch(int64_t n) : acc(n, 0.0f), touched_mask(n, 0) { touched.reserve(n); }
};

// One layer for rows [begin, end) of `in`, appended to `out` (rows that die are not appended).
void layer_rows(const ActiveRows& in, int64_t begin, int64_t end, const CsrMatrix& w, float bias, float clip,
                Scratch& s, ActiveRows& out) {
  const int64_t n = w.cols;
  const double per_row = w.rows > 0 ? static_cast<double>(w.nnz()) / w.rows : 0.0;
  for (int64_t r = begin; r < end; ++r) {
    const size_t before = out.cols.size();
    auto emit = [&](int32_t j) {
      const float z = s.acc[j];
      s.acc[j] = 0.0f;
      if (z == 0.0f) return;  // nothing arrived (or it cancelled): no bias, stays zero
      const float v = std::min(std::max(z + bias, 0.0f), clip);
      if (v != 0.0f) out.cols.push_back(j), out.vals.push_back(v);
    };
    // A dense-ish row touches most outputs: skip the bookkeeping and scan them all in order.
    // Otherwise remember what was touched and emit it sorted.
    const bool dense = static_cast<double>(in.row_ptr[r + 1] - in.row_ptr[r]) * per_row * 4 > static_cast<double>(n);
    for (int64_t p = in.row_ptr[r]; p < in.row_ptr[r + 1]; ++p) {
      const int32_t i = in.cols[p];
      const float yi = in.vals[p];
      if (dense) {
        for (int64_t q = w.row_ptr[i]; q < w.row_ptr[i + 1]; ++q) s.acc[w.col_idx[q]] += yi * w.values[q];
      } else {
        for (int64_t q = w.row_ptr[i]; q < w.row_ptr[i + 1]; ++q) {
          const int32_t j = w.col_idx[q];
          s.acc[j] += yi * w.values[q];
          if (!s.touched_mask[j]) s.touched_mask[j] = 1, s.touched.push_back(j);
        }
      }
    }
    if (dense) {
      for (int32_t j = 0; j < n; ++j) emit(j);
    } else {
      std::sort(s.touched.begin(), s.touched.end());
      for (int32_t j : s.touched) emit(j), s.touched_mask[j] = 0;
      s.touched.clear();
    }
    if (out.cols.size() != before) {
      out.ids.push_back(in.ids[r]);
      out.row_ptr.push_back(static_cast<int64_t>(out.cols.size()));
    }
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

  RunResult run(const Network& net, const Features& x, const RunOptions& opt) override {
    const int threads = opt.threads > 0 ? opt.threads : omp_get_max_threads();
    RunResult result;
    auto t0 = std::chrono::steady_clock::now();

    // Preprocess: keep the inputs that have any nonzero.
    ActiveRows y;
    for (int64_t r = 0; r < x.count(); ++r) {
      if (x.matrix.row_nnz(r) == 0) continue;
      y.ids.push_back(r);
      y.cols.insert(y.cols.end(), x.matrix.col_idx.begin() + x.matrix.row_ptr[r],
                    x.matrix.col_idx.begin() + x.matrix.row_ptr[r + 1]);
      y.vals.insert(y.vals.end(), x.matrix.values.begin() + x.matrix.row_ptr[r],
                    x.matrix.values.begin() + x.matrix.row_ptr[r + 1]);
      y.row_ptr.push_back(y.nnz());
    }
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
      // Chunks in row order; concatenating them in order keeps the rows sorted by input id.
      const int64_t chunks = std::min<int64_t>(y.rows(), static_cast<int64_t>(parts.size()));
      ParallelErrors errors(static_cast<size_t>(chunks));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (int64_t c = 0; c < chunks; ++c)
        errors.run(c, [&] {
          parts[c].clear();
          layer_rows(y, y.rows() * c / chunks, y.rows() * (c + 1) / chunks, net.layers[l], net.bias, net.clip,
                     scratch[omp_get_thread_num()], parts[c]);
        });
      errors.rethrow();
      // Concatenate the parts in order, in parallel: early layers of large networks hold gigabytes.
      std::vector<int64_t> row_at(chunks + 1, 0), nnz_at(chunks + 1, 0);
      for (int64_t c = 0; c < chunks; ++c) {
        row_at[c + 1] = row_at[c] + parts[c].rows();
        nnz_at[c + 1] = nnz_at[c] + parts[c].nnz();
      }
      ActiveRows next = std::move(spare);
      next.ids.resize(row_at[chunks]);
      next.row_ptr.resize(row_at[chunks] + 1);
      next.cols.resize(nnz_at[chunks]);
      next.vals.resize(nnz_at[chunks]);
      next.row_ptr[0] = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
      for (int64_t c = 0; c < chunks; ++c) {
        ActiveRows& part = parts[c];
        std::copy(part.ids.begin(), part.ids.end(), next.ids.begin() + row_at[c]);
        for (int64_t k = 1; k <= part.rows(); ++k) next.row_ptr[row_at[c] + k] = nnz_at[c] + part.row_ptr[k];
        std::copy(part.cols.begin(), part.cols.end(), next.cols.begin() + nnz_at[c]);
        std::copy(part.vals.begin(), part.vals.end(), next.vals.begin() + nnz_at[c]);
      }
      spare = std::move(y);
      y = std::move(next);
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
