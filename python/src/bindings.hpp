// Pieces shared by the binding files of spdnn._spdnn: NumPy arrays from vectors, CSR from arrays.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <string>
#include <vector>

#include "spdnn/csr.hpp"

namespace spdnn::python {

namespace nb = nanobind;

template <class T>
using HostArray = nb::ndarray<const T, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// A 1-D NumPy array that owns `v` (no copy).
template <class T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> to_numpy(std::vector<T> v) {
  auto* owned = new std::vector<T>(std::move(v));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(owned->data(), {owned->size()}, owner);
}

// A rows x cols CSR matrix from SciPy's three arrays, validated (offsets, ranges, strictly ascending
// columns, finite values); errors are spdnn::Error naming `what`.
CsrMatrix csr_from_arrays(int64_t rows, int64_t cols, HostArray<int64_t> indptr, HostArray<int32_t> indices,
                          HostArray<float> data, const std::string& what);

void bind_challenge(nb::module_& m);
void bind_sparse(nb::module_& m);
void bind_conv2d(nb::module_& m);

}  // namespace spdnn::python
