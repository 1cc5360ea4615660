"""Conversions between SciPy/NumPy matrices and the three CSR arrays spdnn's C++ side takes."""

import numpy as np
import scipy.sparse as sp

from ._spdnn import Error


def csr_arrays(matrix, shape, what):
    """(indptr int64, indices int32, data float32) of `matrix` (any SciPy sparse matrix or array, or a dense
    NumPy array), duplicates summed and columns sorted; raises Error if its shape is not `shape`."""
    m = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    if shape is not None and m.shape != tuple(shape):
        raise Error(f"{what}: shape {m.shape[0]} x {m.shape[1]}, expected {shape[0]} x {shape[1]}")
    m.sum_duplicates()
    m.sort_indices()
    return (np.ascontiguousarray(m.indptr, dtype=np.int64), np.ascontiguousarray(m.indices, dtype=np.int32),
            np.ascontiguousarray(m.data, dtype=np.float32))


def to_scipy(arrays, shape):
    indptr, indices, data = arrays
    return sp.csr_matrix((data, indices, indptr), shape=shape)
