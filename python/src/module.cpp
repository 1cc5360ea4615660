// spdnn._spdnn: the C++ half of the Python package (python/spdnn wraps it with SciPy, NumPy and torch
// conversions). spdnn::Error becomes spdnn.Error, carrying the library's one-line message.
#include <fmt/format.h>

#include <cmath>

#include "bindings.hpp"
#include "spdnn/challenge/engine.hpp"
#include "spdnn/error.hpp"

namespace spdnn::python {

CsrMatrix csr_from_arrays(int64_t rows, int64_t cols, HostArray<int64_t> indptr, HostArray<int32_t> indices,
                          HostArray<float> data, const std::string& what) {
  CsrMatrix m;
  m.rows = rows, m.cols = cols;
  m.row_ptr.assign(indptr.data(), indptr.data() + indptr.shape(0));
  m.col_idx.assign(indices.data(), indices.data() + indices.shape(0));
  m.values.assign(data.data(), data.data() + data.shape(0));
  if (m.row_ptr.empty()) m.row_ptr.push_back(0);
  m.validate(what);
  for (int64_t r = 0; r < m.rows; ++r)
    for (int64_t p = m.row_ptr[r]; p < m.row_ptr[r + 1]; ++p)
      if (!std::isfinite(m.values[p]))
        throw Error(Errc::format, fmt::format("{}: value {} at row {}, column {} is not finite", what, m.values[p],
                                              r + 1, int64_t{m.col_idx[p]} + 1));
  return m;
}

SparseLinearOptions layer_options(bool relu, bool specialize, const std::string& cache, const std::string& cache_dir,
                                  bool tune) {
  SparseLinearOptions o;
  o.relu = relu, o.specialize = specialize, o.tune = tune;
  o.cache = parse_kernel_cache_mode(cache);
  o.cache_dir = cache_dir;
  return o;
}

}  // namespace spdnn::python

NB_MODULE(_spdnn, m) {
  namespace nb = nanobind;
  m.doc() = "spdnn's C++ library; use the spdnn package, which wraps it";
  m.attr("__version__") = SPDNN_VERSION;
  nb::exception<spdnn::Error>(m, "Error", PyExc_RuntimeError);
  m.def("gpu_count", &spdnn::gpu_count, "GPUs this build can use here");
#ifdef SPDNN_HAVE_CUDA
  m.attr("has_cuda") = true;
#else
  m.attr("has_cuda") = false;
#endif
  spdnn::python::bind_challenge(m);
  spdnn::python::bind_sparse(m);
  spdnn::python::bind_conv2d(m);
}
