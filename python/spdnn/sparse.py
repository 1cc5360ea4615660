"""Pruned layers on the GPU: Y = act(W @ X + b) with a kernel generated for the known sparse W.

X is K x N (a 1x1 convolution's input with N = batch * H * W, or the transpose of a linear layer's
batch), Y is M x N. Example::

    layer = spdnn.SparseLinear(W, bias=b, relu=True)     # W: SciPy sparse, NumPy or torch, M x K
    y = layer(x)      # NumPy: copied to the GPU and back; torch/CuPy CUDA tensor: in place, on its stream
    print(layer.report())                                # which kernel runs and why
"""

import json
import os

import numpy as np

from . import _scipy, _spdnn
from ._spdnn import Error


def _host_matrix(w):
    """A SciPy/NumPy view of weights given as any of SciPy, NumPy or a torch tensor."""
    if hasattr(w, "detach") and hasattr(w, "cpu"):  # torch
        w = w.detach().cpu().numpy()
    return w


def _vector(b):
    if b is None:
        return np.zeros(0, dtype=np.float32)
    b = _host_matrix(b)
    v = np.ascontiguousarray(np.asarray(b, dtype=np.float32).reshape(-1))
    if not np.all(np.isfinite(v)):
        raise Error("bias: a value is not finite")
    return v


class SparseLinear:
    """``Y = act(W @ X + bias)`` for a pruned W (M x K), run by a CUDA kernel generated for W.

    The kernel for each column count N is chosen on first use (generated, compiled with NVRTC, tuned
    against the generic CSR kernel) and kept in the kernel cache (``cache_dir``, default
    ``$SPDNN_KERNEL_CACHE`` or ``~/.cache/spdnn/kernels``). ``specialize=False`` uses the generic kernel only.
    Needs a CUDA build of spdnn and a GPU; otherwise construction raises :class:`spdnn.Error` saying why."""

    def __init__(self, weight, bias=None, relu=False, specialize=True, cache="on", cache_dir=None, tune=True):
        w = _host_matrix(weight)
        rows, cols = w.shape
        indptr, indices, data = _scipy.csr_arrays(w, (rows, cols), "weights")
        self._native = _spdnn._SparseLinear(rows, cols, indptr, indices, data, _vector(bias), bool(relu),
                                            bool(specialize), cache, os.fspath(cache_dir or ""), bool(tune))

    @property
    def shape(self):
        return (self._native.rows, self._native.cols)

    def prepare(self, n):
        """Chooses (and compiles or loads) the kernel for N columns now, e.g. before CUDA-graph capture."""
        self._native.prepare(int(n))

    def __call__(self, x):
        """Y for X (K x N, float32): a NumPy array in and out, or a CUDA tensor of torch or CuPy (DLPack),
        computed on that tensor's current stream into a new tensor of the same framework."""
        if isinstance(x, np.ndarray):
            return self._native.forward_host(np.ascontiguousarray(x, dtype=np.float32))
        module = type(x).__module__.split(".")[0]
        if module == "torch":
            import torch
            if not x.is_cuda:
                return torch.from_numpy(self(x.detach().numpy()))
            x = x.contiguous()
            y = torch.empty((self.shape[0], x.shape[1]), dtype=torch.float32, device=x.device)
            stream = torch.cuda.current_stream(x.device).cuda_stream
        elif module == "cupy":
            import cupy
            x = cupy.ascontiguousarray(x, dtype=cupy.float32)
            y = cupy.empty((self.shape[0], x.shape[1]), dtype=cupy.float32)
            stream = cupy.cuda.get_current_stream().ptr
        else:
            raise TypeError(f"SparseLinear: expected a NumPy array or a torch/CuPy tensor, got {type(x).__name__}")
        self._native.forward_device(x, y, stream)
        return y

    def report(self):
        """Which kernel runs (``path``: specialized or generic, with the ``reason``; ``config``) and what building
        it cost: the same fields as the ``kernel`` object of ``spdnn sparse run --json``."""
        return json.loads(self._native.report_json())
