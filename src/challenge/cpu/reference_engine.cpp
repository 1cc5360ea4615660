// The reference engine: the challenge formula, literally, one input at a time. It is the executable
// spec every other engine is tested against; keep it short and obvious, never fast.
//
//   for each layer l:  z = y * W(l);  y[j] = z[j] != 0 ? min(max(z[j] + bias, 0), clip) : 0
//
// z[j] sums its contributions in ascending input-neuron order, starting from 0.0f (the order the
// other CPU engine uses too, so their features are bit-identical). The bias goes to nonzero sums only,
// as in the challenge's MATLAB reference (Y*W is sparse there).
#include <algorithm>
#include <chrono>

#include "challenge/cpu/engines.hpp"

namespace spdnn::cpu {

namespace {

class ReferenceEngine final : public Engine {
 public:
  std::string name() const override { return "reference"; }
  std::string device() const override { return cpu_description(1); }

  RunResult run(const Network& net, const Features& x, const RunOptions& opt) override {
    if (opt.exchange) opt.exchange->leave();  // one input at a time: no layer boundary to move rows at
    if (opt.before_inference) opt.before_inference();
    const auto start = std::chrono::steady_clock::now();
    const double begin_unix = unix_seconds();
    const int64_t n = net.neurons;
    RunResult result;
    result.layers.assign(net.layers.size(), LayerStats{});
    if (opt.keep_features) {
      result.features.emplace();
      result.features->rows = x.count();
      result.features->cols = n;
    }
    std::vector<float> y(n), z(n);
    for (int64_t input = 0; input < x.count(); ++input) {
      std::fill(y.begin(), y.end(), 0.0f);
      for (int64_t p = x.matrix.row_ptr[input]; p < x.matrix.row_ptr[input + 1]; ++p)
        y[x.matrix.col_idx[p]] = x.matrix.values[p];

      for (size_t l = 0; l < net.layers.size(); ++l) {
        const CsrMatrix& w = net.layers[l];
        std::fill(z.begin(), z.end(), 0.0f);
        for (int64_t i = 0; i < n; ++i) {
          if (y[i] == 0.0f) continue;
          for (int64_t p = w.row_ptr[i]; p < w.row_ptr[i + 1]; ++p) z[w.col_idx[p]] += y[i] * w.values[p];
        }
        int64_t nnz = 0;
        for (int64_t j = 0; j < n; ++j) {
          y[j] = z[j] != 0.0f ? std::min(std::max(z[j] + net.bias, 0.0f), net.clip) : 0.0f;
          nnz += y[j] != 0.0f;
        }
        result.layers[l].nnz += nnz;
        result.layers[l].active_inputs += nnz > 0;
        if (nnz == 0) break;  // a zero row stays zero in every later layer (z = 0: no bias)
      }
      bool survived = std::any_of(y.begin(), y.end(), [](float v) { return v != 0.0f; });
      if (survived) result.categories.push_back(input + 1);
      if (opt.keep_features) {
        for (int64_t j = 0; j < n; ++j)
          if (y[j] != 0.0f) result.features->col_idx.push_back(static_cast<int32_t>(j)), result.features->values.push_back(y[j]);
        result.features->row_ptr.push_back(result.features->nnz());
      }
    }
    result.inference_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.inference_begin_unix = begin_unix, result.inference_end_unix = unix_seconds();
    return result;
  }
};

}  // namespace

std::unique_ptr<Engine> make_reference_engine() { return std::make_unique<ReferenceEngine>(); }

}  // namespace spdnn::cpu
