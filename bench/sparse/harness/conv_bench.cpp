// The sparse convolution benchmark (see conv_bench.hpp): every path is a callable that enqueues one
// convolution on a stream, so plain timing, graph capture and verification treat all alike.
#include "harness/conv_bench.hpp"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <functional>
#include <memory>

#include "cuda/check.hpp"
#include "cuda/device.hpp"
#include "cuda/device_buffer.hpp"
#include "cuda/stream.hpp"
#ifdef SPDNN_HAVE_CUDNN_HEADER
#include "harness/cudnn_library.hpp"
#endif
#include "harness/im2col.hpp"
#include "harness/path_timer.hpp"
#include "spdnn/error.hpp"

namespace spdnn {

namespace {

using bench::TimedPath;

template <class T>
std::vector<T> download(const T* device, size_t count) {
  std::vector<T> host(count);
  if (count != 0) SPDNN_CUDA_CHECK(cudaMemcpy(host.data(), device, count * sizeof(T), cudaMemcpyDeviceToHost));
  return host;
}

template <class T>
cuda::DeviceBuffer<T> upload(const std::vector<T>& host, const char* what) {
  cuda::DeviceBuffer<T> buffer(host.size(), what);
  if (!host.empty()) SPDNN_CUDA_CHECK(cudaMemcpy(buffer.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return buffer;
}

#ifdef SPDNN_HAVE_CUDNN_HEADER
// cuDNN's dense convolution of `s` (W dense, KCRS) in one precision: NCHW floats with strict FMA math or
// TF32 tensor cores, or NHWC halves with tensor cores (its fast layout) and float accumulation. The
// algorithm is cuDNN's fastest by its own search; strict fp32 takes only FMA-math algorithms.
class CudnnPath {
 public:
  enum class Precision { fp32, tf32, fp16 };

  CudnnPath(const bench::CudnnLibrary& lib, const Conv2dShape& s, const std::vector<float>& dense, const std::vector<float>& x,
            Precision precision, cudaStream_t stream)
      : lib_(lib), s_(s), half_(precision == Precision::fp16) {
    lib_.check(lib_.cudnnCreate(&handle_), "create");
    lib_.check(lib_.cudnnSetStream(handle_, stream), "set stream");
    const cudnnDataType_t type = half_ ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
    const cudnnTensorFormat_t format = half_ ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    auto i32 = [](int64_t v) { return static_cast<int>(v); };
    lib_.check(lib_.cudnnCreateTensorDescriptor(&x_desc_), "x descriptor");
    lib_.check(lib_.cudnnSetTensor4dDescriptor(x_desc_, format, type, i32(s.batch), i32(s.channels), i32(s.height), i32(s.width)), "x descriptor");
    lib_.check(lib_.cudnnCreateTensorDescriptor(&y_desc_), "y descriptor");
    lib_.check(lib_.cudnnSetTensor4dDescriptor(y_desc_, format, type, i32(s.batch), i32(s.out_channels), i32(s.out_height()),
                                               i32(s.out_width())), "y descriptor");
    lib_.check(lib_.cudnnCreateFilterDescriptor(&w_desc_), "filter descriptor");
    lib_.check(lib_.cudnnSetFilter4dDescriptor(w_desc_, type, format, i32(s.out_channels), i32(s.channels), i32(s.kernel_h),
                                               i32(s.kernel_w)), "filter descriptor");
    lib_.check(lib_.cudnnCreateConvolutionDescriptor(&conv_desc_), "convolution descriptor");
    lib_.check(lib_.cudnnSetConvolution2dDescriptor(conv_desc_, i32(s.padding), i32(s.padding), i32(s.stride), i32(s.stride),
                                                    i32(s.dilation), i32(s.dilation), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
               "convolution descriptor");
    const cudnnMathType_t math = precision == Precision::fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    lib_.check(lib_.cudnnSetConvolutionMathType(conv_desc_, math), "math type");
    if (half_) {  // NHWC halves, and the filter as KRSC
      x_half_ = upload(to_half(nhwc(x, s.batch, s.channels, s.height, s.width)), "cuDNN fp16 X (NHWC)");
      w_half_ = upload(to_half(nhwc(dense, s.out_channels, s.channels, s.kernel_h, s.kernel_w)), "cuDNN fp16 W (KRSC)");
      y_half_.allocate(static_cast<size_t>(s.output_size()), "cuDNN fp16 Y (NHWC)");
    } else {
      x_ = upload(x, "cuDNN X (NCHW)");
      w_ = upload(dense, "cuDNN W (KCRS)");
      y_.allocate(static_cast<size_t>(s.output_size()), "cuDNN Y (NCHW)");
    }
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> found{};
    int count = 0;
    lib_.check(lib_.cudnnFindConvolutionForwardAlgorithm(handle_, x_desc_, w_desc_, conv_desc_, y_desc_,
                                                         static_cast<int>(found.size()), &count, found.data()),
               "algorithm search");
    const auto best = std::find_if(found.begin(), found.begin() + count, [&](const cudnnConvolutionFwdAlgoPerf_t& p) {
      return p.status == CUDNN_STATUS_SUCCESS && (precision != Precision::fp32 || p.mathType == CUDNN_FMA_MATH);
    });
    if (best == found.begin() + count)
      throw Error(Errc::device, fmt::format("cuDNN found no {} algorithm for {}", precision == Precision::fp32 ? "FMA-only" : "usable",
                                            to_string(s)));
    algo_ = best->algo;
    note_ = fmt::format("algorithm {}, math type {}, workspace {} bytes", static_cast<int>(best->algo),
                        static_cast<int>(best->mathType), best->memory);
    workspace_.allocate(std::max<size_t>(1, (best->memory + 3) / 4), "cuDNN workspace");
  }
  ~CudnnPath() {
    lib_.cudnnDestroyConvolutionDescriptor(conv_desc_);
    lib_.cudnnDestroyFilterDescriptor(w_desc_);
    lib_.cudnnDestroyTensorDescriptor(y_desc_);
    lib_.cudnnDestroyTensorDescriptor(x_desc_);
    lib_.cudnnDestroy(handle_);
  }
  CudnnPath(const CudnnPath&) = delete;
  CudnnPath& operator=(const CudnnPath&) = delete;

  void enqueue() const {
    const float one = 1.0f, zero = 0.0f;
    const void* x = half_ ? static_cast<const void*>(x_half_.get()) : x_.get();
    const void* w = half_ ? static_cast<const void*>(w_half_.get()) : w_.get();
    void* y = half_ ? static_cast<void*>(y_half_.get()) : y_.get();
    lib_.check(lib_.cudnnConvolutionForward(handle_, &one, x_desc_, x, w_desc_, w, conv_desc_, algo_, workspace_.get(),
                                            workspace_.size() * sizeof(float), &zero, y_desc_, y),
               "convolution");
  }
  std::vector<float> output() const {
    if (!half_) return download(y_.get(), y_.size());
    const std::vector<__half> y = download(y_half_.get(), y_half_.size());
    std::vector<float> out(y.size());  // NHWC -> NCHW
    const int64_t k = s_.out_channels, plane = s_.out_height() * s_.out_width();
    for (int64_t n = 0; n < s_.batch; ++n)
      for (int64_t pq = 0; pq < plane; ++pq)
        for (int64_t c = 0; c < k; ++c) out[(n * k + c) * plane + pq] = __half2float(y[(n * plane + pq) * k + c]);
    return out;
  }
  const std::string& note() const { return note_; }

 private:
  // A (d0, d1, d2, d3) array as (d0, d2, d3, d1): NCHW to NHWC, KCRS to KRSC.
  static std::vector<float> nhwc(const std::vector<float>& a, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
    std::vector<float> out(a.size());
    for (int64_t i = 0; i < d0; ++i)
      for (int64_t c = 0; c < d1; ++c)
        for (int64_t h = 0; h < d2; ++h)
          for (int64_t w = 0; w < d3; ++w) out[((i * d2 + h) * d3 + w) * d1 + c] = a[((i * d1 + c) * d2 + h) * d3 + w];
    return out;
  }
  static std::vector<__half> to_half(const std::vector<float>& a) {
    std::vector<__half> out(a.size());
    for (size_t i = 0; i < a.size(); ++i) out[i] = __float2half(a[i]);
    return out;
  }

  const bench::CudnnLibrary& lib_;
  Conv2dShape s_;
  bool half_;
  cudnnHandle_t handle_ = nullptr;
  cudnnTensorDescriptor_t x_desc_ = nullptr, y_desc_ = nullptr;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  cudnnConvolutionFwdAlgo_t algo_{};
  cuda::DeviceBuffer<float> x_, w_, y_, workspace_;
  cuda::DeviceBuffer<__half> x_half_, w_half_, y_half_;
  std::string note_;
};
#else
class CudnnPath {};  // built without cudnn.h: the cuDNN paths say so
#endif

}  // namespace

ConvBenchResult bench_sparse_conv2d(const CsrMatrix& w, const Conv2dShape& s, const SparseBenchOptions& options) {
  for (const auto& p : options.paths)
    if (std::find(conv_bench_paths().begin(), conv_bench_paths().end(), p) == conv_bench_paths().end())
      throw Error(Errc::usage, fmt::format("unknown convolution benchmark path '{}' (paths: specialized, generic, im2col, "
                                           "cudnn_fp32, cudnn_tf32, cudnn_fp16)", p));
  validate(s, w);
  ConvBenchResult result;
  result.shape = s;
  result.nnz = w.nnz();
  result.device = cuda::current_device_name();
  const std::vector<float> x = bench::fp16_exact_values(static_cast<size_t>(s.input_size()), options.seed);
  const std::vector<double> ref = conv2d_reference(s, w, x, {}, false);
  std::vector<float> dense(static_cast<size_t>(s.out_channels * s.filter_columns()), 0.0f);  // KCRS
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) dense[r * w.cols + w.col_idx[p]] = w.values[p];

  cuda::Stream owned_stream;
  cudaStream_t stream = owned_stream.s;
  const cuda::DeviceBuffer<float> x_d = upload(x, "benchmark X (NCHW)");
  std::vector<cuda::DeviceBuffer<float>> buffers;
  buffers.reserve(8);
  SparseLinearOptions lin = options.linear;
  lin.relu = false;
  std::unique_ptr<SparseConv2d> layer;
  std::unique_ptr<SparseLinear> im2col_layer;
  std::vector<std::unique_ptr<CudnnPath>> cudnn_paths;
  std::vector<TimedPath> paths;
  std::vector<SparseBenchTiming> failed;
  const size_t y_size = static_cast<size_t>(s.output_size());
  for (const auto& name : options.paths) {
    try {
      TimedPath p{name, {}, {}, {}};  // its output read back as NCHW floats
      if (name == "specialized" || name == "generic") {
        if (!layer) layer = std::make_unique<SparseConv2d>(w, std::vector<float>{}, s, lin);
        float* y = buffers.emplace_back(y_size, name + " output (NCHW)").get();
        p.output = [y, y_size] { return download(y, y_size); };
        if (name == "specialized") {
          layer->prepare(s.batch, s.height, s.width);
          result.report = layer->report();
          p.enqueue = [&layer, xp = x_d.get(), y, s](cudaStream_t st) { layer->forward(xp, y, s.batch, s.height, s.width, st); };
        } else {
          p.enqueue = [&layer, xp = x_d.get(), y, s](cudaStream_t st) { layer->forward_generic(xp, y, s.batch, s.height, s.width, st); };
        }
      } else if (name == "im2col") {
        const int64_t n = s.batch * s.out_height() * s.out_width();
        im2col_layer = std::make_unique<SparseLinear>(w, std::vector<float>{}, lin);
        im2col_layer->prepare(n);
        p.note = im2col_layer->report().path == "specialized" ? "specialized " + to_string(im2col_layer->report().config)
                                                              : "generic: " + im2col_layer->report().reason;
        float* columns = buffers.emplace_back(static_cast<size_t>(s.filter_columns() * n), "im2col patches").get();
        float* y = buffers.emplace_back(y_size, "im2col output (K x NPQ)").get();
        p.output = [y, y_size, s] { return nchw_from_columns(s, download(y, y_size)); };
        p.enqueue = [&im2col_layer, s, xp = x_d.get(), columns, y, n](cudaStream_t st) {
          SPDNN_CUDA_CHECK(bench::launch_im2col(s, xp, columns, st));
          im2col_layer->forward(columns, y, n, st);
        };
      } else {  // cuDNN
#ifdef SPDNN_HAVE_CUDNN_HEADER
        std::string why_not;
        const bench::CudnnLibrary* lib = bench::cudnn_library(&why_not);
        result.cudnn = lib != nullptr ? lib->describe() : why_not;
        if (lib == nullptr) throw Error(Errc::unsupported, why_not);
        const auto precision = name == "cudnn_fp32"   ? CudnnPath::Precision::fp32
                               : name == "cudnn_tf32" ? CudnnPath::Precision::tf32
                                                      : CudnnPath::Precision::fp16;
        const CudnnPath& c = *cudnn_paths.emplace_back(std::make_unique<CudnnPath>(*lib, s, dense, x, precision, stream));
        p.note = c.note();
        p.output = [&c] { return c.output(); };
        p.enqueue = [&c](cudaStream_t) { c.enqueue(); };  // on the handle's stream
#else
        result.cudnn = "spdnn was built without cudnn.h (set CUDNN_INCLUDE_DIR when configuring)";
        throw Error(Errc::unsupported, result.cudnn);
#endif
      }
      paths.push_back(std::move(p));
    } catch (const Error& e) {
      if (e.code() == Errc::usage) throw;
      failed.push_back({name, 0, 0, 0, e.what(), {}});
    }
  }

  std::vector<SparseBenchTiming> timings = bench::verify_and_time(paths, ref, stream, options.rounds, options.calls);
  timings.insert(timings.end(), failed.begin(), failed.end());
  result.timings = std::move(timings);
  return result;
}

SparseBenchTiming time_sparse_conv2d(SparseConv2d& layer, const Conv2dShape& s, int rounds, int calls) {
  layer.prepare(s.batch, s.height, s.width);
  cuda::Stream stream;
  cuda::DeviceBuffer<float> x(static_cast<size_t>(s.input_size()), "timing input (NCHW)");
  cuda::DeviceBuffer<float> y(static_cast<size_t>(s.output_size()), "timing output (NCHW)");
  if (x.size() != 0) SPDNN_CUDA_CHECK(cudaMemset(x.get(), 0, x.size() * sizeof(float)));
  return bench::time_alone(
      layer.report().path,
      [&layer, xp = x.get(), yp = y.get(), s](cudaStream_t st) { layer.forward(xp, yp, s.batch, s.height, s.width, st); },
      stream.s, rounds, calls);
}

}  // namespace spdnn
