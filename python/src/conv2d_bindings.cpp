// SparseConv2d in spdnn._spdnn: on a host NCHW array (copied in and out) or on device tensors of any
// DLPack framework (torch, CuPy), in place, on the caller's stream. python/spdnn/sparse.py picks between
// them. In a build without CUDA, constructing one raises spdnn.Error saying so. Also _precompile: the
// kernels of many layers, linear and convolutions, compiled together on all cores.
#include <fmt/format.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "bindings.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_conv2d.hpp"

namespace spdnn::python {

namespace {

using namespace nb::literals;

using HostImages = nb::ndarray<const float, nb::ndim<4>, nb::c_contig, nb::device::cpu>;
using DeviceIn = nb::ndarray<const float, nb::ndim<4>, nb::c_contig, nb::device::cuda>;
using DeviceOut = nb::ndarray<float, nb::ndim<4>, nb::c_contig, nb::device::cuda>;

// The layer's shape for an N x C x H x W input, after checking C.
template <class Array>
Conv2dShape input_shape(const SparseConv2d& s, const Array& x, const char* what) {
  if (static_cast<int64_t>(x.shape(1)) != s.filter().channels)
    throw Error(Errc::mismatch, fmt::format("{} has {} channels; the filter takes {}", what, x.shape(1), s.filter().channels));
  return s.shape(static_cast<int64_t>(x.shape(0)), static_cast<int64_t>(x.shape(2)), static_cast<int64_t>(x.shape(3)));
}

}  // namespace

void bind_conv2d(nb::module_& m) {
  nb::class_<SparseConv2d>(m, "_SparseConv2d")
      .def(
          "__init__",
          [](SparseConv2d* self, int64_t out_channels, int64_t channels, int64_t kernel_h, int64_t kernel_w, int64_t stride,
             int64_t padding, int64_t dilation, HostArray<int64_t> indptr, HostArray<int32_t> indices, HostArray<float> data,
             HostArray<float> bias, bool relu, bool specialize, const std::string& cache, const std::string& cache_dir,
             bool tune, bool inline_ptx) {
            SparseLinearOptions o = layer_options(relu, specialize, cache, cache_dir, tune);
            o.inline_ptx = inline_ptx;
            Conv2dShape filter;
            filter.channels = channels, filter.out_channels = out_channels, filter.kernel_h = kernel_h,
            filter.kernel_w = kernel_w, filter.stride = stride, filter.padding = padding, filter.dilation = dilation;
            CsrMatrix w = csr_from_arrays(out_channels, channels * kernel_h * kernel_w, indptr, indices, data, "weights");
            new (self) SparseConv2d(std::move(w), std::vector<float>(bias.data(), bias.data() + bias.shape(0)), filter, o);
          },
          "out_channels"_a, "channels"_a, "kernel_h"_a, "kernel_w"_a, "stride"_a, "padding"_a, "dilation"_a, "indptr"_a,
          "indices"_a, "data"_a, "bias"_a, "relu"_a, "specialize"_a, "cache"_a, "cache_dir"_a, "tune"_a,
          "inline_ptx"_a = true)
      .def("output_shape",
           [](const SparseConv2d& s, int64_t batch, int64_t height, int64_t width) {
             const Conv2dShape c = s.shape(batch, height, width);
             return nb::make_tuple(c.batch, c.out_channels, c.out_height(), c.out_width());
           })
      .def("prepare", &SparseConv2d::prepare, "batch"_a, "height"_a, "width"_a)
      .def("forward_host",
           [](SparseConv2d& s, HostImages x) {
             const Conv2dShape c = input_shape(s, x, "x");
             std::vector<float> in(x.data(), x.data() + x.size()), out;
             {
               nb::gil_scoped_release unlocked;
               out = s.forward_host(in, c.batch, c.height, c.width);
             }
             return to_numpy(std::move(out), std::array<size_t, 4>{static_cast<size_t>(c.batch), static_cast<size_t>(c.out_channels),
                                                                    static_cast<size_t>(c.out_height()),
                                                                    static_cast<size_t>(c.out_width())});
           })
      .def(
          "forward_device",
          [](SparseConv2d& s, DeviceIn x, DeviceOut y, uintptr_t stream) {
            const Conv2dShape c = input_shape(s, x, "x");
            if (static_cast<int64_t>(y.shape(0)) != c.batch || static_cast<int64_t>(y.shape(1)) != c.out_channels ||
                static_cast<int64_t>(y.shape(2)) != c.out_height() || static_cast<int64_t>(y.shape(3)) != c.out_width())
              throw Error(Errc::mismatch, fmt::format("y is {} x {} x {} x {}; expected {} x {} x {} x {}", y.shape(0), y.shape(1),
                                                      y.shape(2), y.shape(3), c.batch, c.out_channels, c.out_height(),
                                                      c.out_width()));
            s.forward(x.data(), y.data(), c.batch, c.height, c.width, reinterpret_cast<void*>(stream));
          },
          "x"_a, "y"_a, "stream"_a)
      .def("report_json", [](const SparseConv2d& s) { return to_json(s.report()); });

  m.def(
      "_precompile",
      [](const std::vector<std::pair<const SparseLinear*, std::vector<int64_t>>>& linears,
         const std::vector<std::pair<const SparseConv2d*, std::vector<std::tuple<int64_t, int64_t, int64_t>>>>& convs,
         unsigned jobs) {
        std::vector<LayerSizes> layers;
        for (const auto& [layer, ns] : linears) {
          LayerSizes& l = layers.emplace_back();
          l.linear = layer;
          for (int64_t n : ns) l.sizes.push_back({n, 0, 0});
        }
        for (const auto& [layer, sizes] : convs) {
          LayerSizes& l = layers.emplace_back();
          l.conv = layer;
          for (const auto& [batch, height, width] : sizes) l.sizes.push_back({batch, height, width});
        }
        nb::gil_scoped_release unlocked;
        return precompile_layers(layers, jobs);
      },
      "linears"_a, "convs"_a, "jobs"_a = 0);
}

}  // namespace spdnn::python
