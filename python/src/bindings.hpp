// Pieces shared by the binding files of spdnn._spdnn: NumPy arrays from vectors, CSR from arrays, layer
// options.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"
#include "spdnn/sparse/sparse_linear.hpp"

namespace spdnn::python {

namespace nb = nanobind;

template <class T>
using HostArray = nb::ndarray<const T, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// A NumPy array of `shape` (row-major) that owns `v` (no copy).
template <class T, size_t D>
nb::ndarray<nb::numpy, T, nb::ndim<D>> to_numpy(std::vector<T> v, const std::array<size_t, D>& shape) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<D>>(owned->data(), D, shape.data(), owner);
}
template <class T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T> v) {
  const size_t n = v.size();
  return to_numpy(std::move(v), std::array<size_t, 1>{n});
}

// The options of a pruned layer as the Python classes pass them (python/spdnn/sparse.py).
SparseLinearOptions layer_options(bool relu, bool specialize, const std::string& cache, const std::string& cache_dir,
                                  bool tune);

// A rows x cols CSR matrix from SciPy's three arrays, validated (offsets, ranges, strictly ascending
// columns, finite values); errors are spdnn::Error naming `what`.
CsrMatrix csr_from_arrays(int64_t rows, int64_t cols, HostArray<int64_t> indptr, HostArray<int32_t> indices,
                          HostArray<float> data, const std::string& what);

void bind_challenge(nb::module_& m);
void bind_sparse(nb::module_& m);
void bind_conv2d(nb::module_& m);

}  // namespace spdnn::python
