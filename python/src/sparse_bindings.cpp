// The pruned-layer half of spdnn._spdnn: SparseLinear on host arrays (copied in and out) or on device
// tensors of any DLPack framework (torch, CuPy), in place, on the caller's stream. python/spdnn/sparse.py
// picks between them. In a build without CUDA, constructing one raises spdnn.Error saying so.
#include <fmt/format.h>
#include <nanobind/stl/string.h>

#include <cstring>

#include "bindings.hpp"
#include "spdnn/error.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::python {

namespace {

using namespace nb::literals;

using HostMatrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;
using DeviceIn = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cuda>;
using DeviceOut = nb::ndarray<float, nb::ndim<2>, nb::c_contig, nb::device::cuda>;

void check_input(const SparseLinear& s, size_t rows, size_t cols, const char* what) {
  if (static_cast<int64_t>(rows) != s.cols())
    throw Error(Errc::mismatch, fmt::format("{} has {} rows; the layer's weight matrix has {} columns (K x N input)",
                                            what, rows, s.cols()));
  if (cols == 0) throw Error(Errc::usage, fmt::format("{} has no columns", what));
}

}  // namespace

void bind_sparse(nb::module_& m) {
  nb::class_<SparseLinear>(m, "_SparseLinear")
      .def(
          "__init__",
          [](SparseLinear* self, int64_t rows, int64_t cols, HostArray<int64_t> indptr, HostArray<int32_t> indices,
             HostArray<float> data, HostArray<float> bias, bool relu, bool specialize, const std::string& cache,
             const std::string& cache_dir, bool tune, bool inline_ptx) {
            SparseLinearOptions o = layer_options(relu, specialize, cache, cache_dir, tune);
            o.inline_ptx = inline_ptx;
            std::vector<float> b(bias.data(), bias.data() + bias.shape(0));
            if (!b.empty() && static_cast<int64_t>(b.size()) != rows)
              throw Error(Errc::mismatch, fmt::format("bias has {} values for {} output rows", b.size(), rows));
            new (self) SparseLinear(csr_from_arrays(rows, cols, indptr, indices, data, "weights"), std::move(b), o);
          },
          "rows"_a, "cols"_a, "indptr"_a, "indices"_a, "data"_a, "bias"_a, "relu"_a, "specialize"_a, "cache"_a,
          "cache_dir"_a, "tune"_a, "inline_ptx"_a = true)
      .def_prop_ro("rows", &SparseLinear::rows)
      .def_prop_ro("cols", &SparseLinear::cols)
      .def("prepare", &SparseLinear::prepare)
      .def("forward_host",
           [](SparseLinear& s, HostMatrix x) {
             check_input(s, x.shape(0), x.shape(1), "x");
             const int64_t n = static_cast<int64_t>(x.shape(1));
             std::vector<float> in(x.data(), x.data() + x.size()), out;
             {
               nb::gil_scoped_release unlocked;
               out = s.forward_host(in, n);
             }
             return to_numpy(std::move(out), std::array<size_t, 2>{static_cast<size_t>(s.rows()), x.shape(1)});
           })
      .def(
          "forward_device",
          [](SparseLinear& s, DeviceIn x, DeviceOut y, uintptr_t stream) {
            check_input(s, x.shape(0), x.shape(1), "x");
            if (static_cast<int64_t>(y.shape(0)) != s.rows() || y.shape(1) != x.shape(1))
              throw Error(Errc::mismatch, fmt::format("y is {} x {}; expected {} x {}", y.shape(0), y.shape(1), s.rows(),
                                                      x.shape(1)));
            s.forward(x.data(), y.data(), static_cast<int64_t>(x.shape(1)), reinterpret_cast<void*>(stream));
          },
          "x"_a, "y"_a, "stream"_a)
      .def("report_json", [](const SparseLinear& s) { return to_json(s.report()); });
}

}  // namespace spdnn::python
