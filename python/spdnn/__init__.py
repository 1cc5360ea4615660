"""spdnn: sparse deep neural network inference, exact to the last bit.

Two products on one C++/CUDA library:

- the Sparse DNN Graph Challenge: :class:`Network`, :class:`Inputs` and :func:`run` (engines ``cpu``,
  ``reference`` and, with a GPU, ``cuda``; modes ``general``, ``structure`` and ``auto``);
- kernels generated for pruned layers: :class:`SparseLinear` and :class:`SparseConv2d` (need a CUDA build
  and a GPU).

Errors in input (files, shapes, values) raise :class:`Error` with spdnn's one-line message.
"""

from ._spdnn import Error, __version__, gpu_count, has_cuda
from .challenge import Inputs, Network, Result, read_categories, run, verify
from .sparse import SparseConv2d, SparseLinear, precompile

__all__ = [
    "Error", "__version__", "gpu_count", "has_cuda",
    "Network", "Inputs", "Result", "run", "verify", "read_categories",
    "SparseLinear", "SparseConv2d", "precompile",
]
