// The sparse-linear benchmark (see sparse_bench.hpp): every path is a callable that
// enqueues one Y = W * X on a stream, so plain timing, graph capture and verification treat all alike.
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cusparse.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>

#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/stream.hpp"
#include "spdnn/error.hpp"
#include "harness/path_timer.hpp"
#include "harness/sparse_bench.hpp"

namespace spdnn {

namespace {

using bench::Enqueue, bench::TimedPath;

void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw Error(Errc::device, fmt::format("cuBLAS {} failed: {}", what, cublasGetStatusString(s)));
}
void check_cusparse(cusparseStatus_t s, const char* what) {
  if (s != CUSPARSE_STATUS_SUCCESS) throw Error(Errc::device, fmt::format("cuSPARSE {} failed: {}", what, cusparseGetErrorString(s)));
}

// One path: how to enqueue a call, and where its output lands (float, or half for fp16).
struct Path {
  std::string name;
  Enqueue enqueue;
  const float* y = nullptr;
  const __half* y_half = nullptr;
  std::function<void()> release;  // library handles to free
};

}  // namespace

SparseBenchResult bench_sparse_linear(const CsrMatrix& w, int64_t n, const SparseBenchOptions& options) {
  for (const auto& p : options.paths)
    if (std::find(sparse_bench_paths().begin(), sparse_bench_paths().end(), p) == sparse_bench_paths().end())
      throw Error(Errc::usage, fmt::format("unknown benchmark path '{}'", p));
  const int64_t m = w.rows, k = w.cols;
  SparseBenchResult result{{}, m, k, w.nnz(), n, {}, {}};
  result.device = cuda::current_device_name();

  // Inputs: X exact in fp16 (path_timer.hpp); the dense W for cuBLAS.
  const std::vector<float> x = bench::fp16_exact_values(static_cast<size_t>(k * n), options.seed);
  const std::vector<double> ref = sparse_linear_reference(w, x, n, {}, false);
  std::vector<float> dense(static_cast<size_t>(m * k), 0.0f);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) dense[r * k + w.col_idx[p]] = w.values[p];

  cuda::Stream owned_stream;
  cudaStream_t stream = owned_stream.s;
  cuda::DeviceBuffer<float> x_d(x.size(), "benchmark X (K x N)");
  SPDNN_CUDA_CHECK(cudaMemcpy(x_d.get(), x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));
  std::vector<cuda::DeviceBuffer<float>> outputs;
  outputs.reserve(16);
  auto output = [&](const std::string& what) {
    outputs.emplace_back(static_cast<size_t>(m * n), what + " output (M x N)");
    return outputs.back().get();
  };

  SparseLinearOptions lin = options.linear;
  lin.relu = false;
  std::unique_ptr<SparseLinear> layer;
  std::vector<Path> paths;
  std::vector<SparseBenchTiming> failed;
  for (const auto& name : options.paths) {
    try {
      Path p{name, {}, nullptr, nullptr, {}};
      if (name == "specialized" || name == "generic") {
        if (!layer) layer = std::make_unique<SparseLinear>(w, std::vector<float>{}, lin);
        float* y = output(name);
        p.y = y;
        if (name == "specialized") {
          layer->prepare(n);
          result.report = layer->report();
          p.enqueue = [&layer, xp = x_d.get(), y, n](cudaStream_t s) { layer->forward(xp, y, n, s); };
        } else {
          p.enqueue = [&layer, xp = x_d.get(), y, n](cudaStream_t s) { layer->forward_generic(xp, y, n, s); };
        }
      } else if (name.rfind("cublas", 0) == 0) {
        // Row-major Y = W X is column-major Y^T = X^T W^T: cuBLAS sees (n x k) * (k x m).
        cublasHandle_t h;
        check_cublas(cublasCreate(&h), "create");
        p.release = [h] { cublasDestroy(h); };
        check_cublas(cublasSetStream(h, stream), "set stream");
        auto* workspace = &outputs.emplace_back(size_t{8} << 20, "cuBLAS workspace");
        check_cublas(cublasSetWorkspace(h, workspace->get(), workspace->size() * sizeof(float)), "set workspace");
        if (name == "cublas_fp16") {
          std::vector<__half> xh(x.size()), wh(dense.size());
          for (size_t i = 0; i < x.size(); ++i) xh[i] = __float2half(x[i]);
          for (size_t i = 0; i < dense.size(); ++i) wh[i] = __float2half(dense[i]);
          // Half buffers live in float buffers of half the count (rounded up).
          auto* xb = &outputs.emplace_back((xh.size() + 1) / 2, "fp16 X");
          auto* wb = &outputs.emplace_back((wh.size() + 1) / 2, "fp16 W");
          auto* yb = &outputs.emplace_back((static_cast<size_t>(m * n) + 1) / 2, "fp16 Y");
          SPDNN_CUDA_CHECK(cudaMemcpy(xb->get(), xh.data(), xh.size() * sizeof(__half), cudaMemcpyHostToDevice));
          SPDNN_CUDA_CHECK(cudaMemcpy(wb->get(), wh.data(), wh.size() * sizeof(__half), cudaMemcpyHostToDevice));
          const auto* xhp = reinterpret_cast<const __half*>(xb->get());
          const auto* whp = reinterpret_cast<const __half*>(wb->get());
          auto* yhp = reinterpret_cast<__half*>(yb->get());
          p.y_half = yhp;
          p.enqueue = [h, xhp, whp, yhp, m, n, k](cudaStream_t) {
            const float one = 1.0f, zero = 0.0f;
            check_cublas(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one,
                                      xhp, CUDA_R_16F, static_cast<int>(n), whp, CUDA_R_16F, static_cast<int>(k), &zero, yhp,
                                      CUDA_R_16F, static_cast<int>(n), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                         "fp16 GEMM");
          };
        } else {
          auto* wb = &outputs.emplace_back(dense.size(), "dense W");
          SPDNN_CUDA_CHECK(cudaMemcpy(wb->get(), dense.data(), dense.size() * sizeof(float), cudaMemcpyHostToDevice));
          float* y = output(name);
          p.y = y;
          // Strict fp32: the pedantic compute type never uses tensor cores or reduced precision.
          const cublasComputeType_t compute = name == "cublas_tf32" ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_PEDANTIC;
          p.enqueue = [h, xp = x_d.get(), wp = wb->get(), y, m, n, k, compute](cudaStream_t) {
            const float one = 1.0f, zero = 0.0f;
            check_cublas(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(m), static_cast<int>(k), &one,
                                      xp, CUDA_R_32F, static_cast<int>(n), wp, CUDA_R_32F, static_cast<int>(k), &zero, y,
                                      CUDA_R_32F, static_cast<int>(n), compute, CUBLAS_GEMM_DEFAULT),
                         "fp32 GEMM");
          };
        }
      } else if (name == "cusparse") {
        cusparseHandle_t h;
        check_cusparse(cusparseCreate(&h), "create");
        check_cusparse(cusparseSetStream(h, stream), "set stream");
        std::vector<int32_t> offsets(w.row_ptr.begin(), w.row_ptr.end());
        auto* ob = &outputs.emplace_back(offsets.size(), "cuSPARSE offsets");
        auto* cb = &outputs.emplace_back(std::max<size_t>(1, w.col_idx.size()), "cuSPARSE columns");
        auto* vb = &outputs.emplace_back(std::max<size_t>(1, w.values.size()), "cuSPARSE values");
        SPDNN_CUDA_CHECK(cudaMemcpy(ob->get(), offsets.data(), offsets.size() * 4, cudaMemcpyHostToDevice));
        if (w.nnz() > 0) {
          SPDNN_CUDA_CHECK(cudaMemcpy(cb->get(), w.col_idx.data(), w.col_idx.size() * 4, cudaMemcpyHostToDevice));
          SPDNN_CUDA_CHECK(cudaMemcpy(vb->get(), w.values.data(), w.values.size() * 4, cudaMemcpyHostToDevice));
        }
        float* y = output(name);
        p.y = y;
        cusparseSpMatDescr_t a;
        cusparseDnMatDescr_t b, c;
        check_cusparse(cusparseCreateCsr(&a, m, k, w.nnz(), ob->get(), cb->get(), vb->get(), CUSPARSE_INDEX_32I,
                                         CUSPARSE_INDEX_32I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F), "CSR descriptor");
        check_cusparse(cusparseCreateDnMat(&b, k, n, n, x_d.get(), CUDA_R_32F, CUSPARSE_ORDER_ROW), "X descriptor");
        check_cusparse(cusparseCreateDnMat(&c, m, n, n, y, CUDA_R_32F, CUSPARSE_ORDER_ROW), "Y descriptor");
        const float one = 1.0f, zero = 0.0f;
        size_t bytes = 0;
        check_cusparse(cusparseSpMM_bufferSize(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a, b,
                                               &zero, c, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &bytes), "SpMM buffer size");
        auto* buffer = &outputs.emplace_back(std::max<size_t>(1, (bytes + 3) / 4), "cuSPARSE SpMM buffer");
        p.release = [h, a, b, c] {
          cusparseDestroySpMat(a);
          cusparseDestroyDnMat(b);
          cusparseDestroyDnMat(c);
          cusparseDestroy(h);
        };
        p.enqueue = [h, a, b, c, buf = buffer->get()](cudaStream_t) {
          const float one = 1.0f, zero = 0.0f;
          check_cusparse(cusparseSpMM(h, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &one, a, b, &zero, c,
                                      CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, buf), "SpMM");
        };
      }
      paths.push_back(std::move(p));
    } catch (const Error& e) {
      if (e.code() == Errc::usage) throw;
      failed.push_back({name, 0, 0, 0, e.what(), {}});
    }
  }

  std::vector<TimedPath> timed;
  for (const Path& p : paths)
    timed.push_back({p.name, p.enqueue, [&p, size = static_cast<size_t>(m * n)] {
                       std::vector<float> y(size);
                       if (p.y_half != nullptr) {
                         std::vector<__half> yh(size);
                         SPDNN_CUDA_CHECK(cudaMemcpy(yh.data(), p.y_half, size * sizeof(__half), cudaMemcpyDeviceToHost));
                         for (size_t j = 0; j < size; ++j) y[j] = __half2float(yh[j]);
                       } else {
                         SPDNN_CUDA_CHECK(cudaMemcpy(y.data(), p.y, size * sizeof(float), cudaMemcpyDeviceToHost));
                       }
                       return y;
                     }, {}});
  std::vector<SparseBenchTiming> timings = bench::verify_and_time(timed, ref, stream, options.rounds, options.calls);
  for (auto& p : paths)
    if (p.release) p.release();
  timings.insert(timings.end(), failed.begin(), failed.end());
  result.timings = std::move(timings);
  return result;
}

SparseBenchTiming time_sparse_linear(SparseLinear& layer, int64_t n, int rounds, int calls) {
  layer.prepare(n);
  cuda::Stream stream;
  cuda::DeviceBuffer<float> x(static_cast<size_t>(layer.cols() * n), "timing input (K x N)");
  cuda::DeviceBuffer<float> y(static_cast<size_t>(layer.rows() * n), "timing output (M x N)");
  if (x.size() != 0) SPDNN_CUDA_CHECK(cudaMemset(x.get(), 0, x.size() * sizeof(float)));
  return bench::time_alone(
      layer.report().path, [&layer, xp = x.get(), yp = y.get(), n](cudaStream_t s) { layer.forward(xp, yp, n, s); }, stream.s,
      rounds, calls);
}

}  // namespace spdnn
