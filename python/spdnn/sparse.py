"""Pruned layers on the GPU, with kernels generated for the known sparse weights.

:class:`SparseLinear`: Y = act(W @ X + b), X K x N (a 1x1 convolution's input with N = batch * H * W, or
the transpose of a linear layer's batch), Y M x N. :class:`SparseConv2d`: Y = act(conv(X, W) + b) as
``torch.nn.Conv2d`` computes it (groups 1), X and Y NCHW. Example::

    layer = spdnn.SparseLinear(W, bias=b, relu=True)     # W: SciPy sparse, NumPy or torch, M x K
    y = layer(x)      # NumPy: copied to the GPU and back; torch/CuPy CUDA tensor: in place, on its stream
    print(layer.report())                                # which kernel runs and why

    conv = spdnn.SparseConv2d(F, padding=1)              # F: K x C x 3 x 3 (NumPy or torch)
    y = conv(x)                                          # x: N x C x H x W
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


def _device_call(x, shape_of_y, forward, what):
    """Runs forward(x, y, stream) on a torch or CuPy CUDA tensor into a new tensor of that framework."""
    module = type(x).__module__.split(".")[0]
    if module == "torch":
        import torch
        x = x.contiguous()
        y = torch.empty(shape_of_y(x), dtype=torch.float32, device=x.device)
        stream = torch.cuda.current_stream(x.device).cuda_stream
    elif module == "cupy":
        import cupy
        x = cupy.ascontiguousarray(x, dtype=cupy.float32)
        y = cupy.empty(shape_of_y(x), dtype=cupy.float32)
        stream = cupy.cuda.get_current_stream().ptr
    else:
        raise TypeError(f"{what}: expected a NumPy array or a torch/CuPy tensor, got {type(x).__name__}")
    forward(x, y, stream)
    return y


def _on_host(x):
    """x as a NumPy array when it lives on the host (NumPy, or a CPU torch tensor), else None."""
    if isinstance(x, np.ndarray):
        return x
    if type(x).__module__.split(".")[0] == "torch" and not x.is_cuda:
        return x.detach().numpy()
    return None


class SparseLinear:
    """``Y = act(W @ X + bias)`` for a pruned W (M x K), run by a CUDA kernel generated for W.

    The kernel for each column count N is chosen on first use (generated, compiled with NVRTC, tuned
    against the generic CSR kernel) and kept in the kernel cache (``cache_dir``, default
    ``$SPDNN_KERNEL_CACHE`` or ``~/.cache/spdnn/kernels``). ``specialize=False`` uses the generic kernel only;
    ``tune=False`` takes the first candidate untimed, or the generic kernel below 64 columns.
    ``inline_ptx`` (the default) writes the generated functions as inline PTX: the same code as the C++
    statements of ``inline_ptx=False``, compiled several times faster.
    Needs a CUDA build of spdnn and a GPU; otherwise construction raises :class:`spdnn.Error` saying why."""

    def __init__(self, weight, bias=None, relu=False, specialize=True, cache="on", cache_dir=None, tune=True,
                 inline_ptx=True):
        w = _host_matrix(weight)
        rows, cols = w.shape
        indptr, indices, data = _scipy.csr_arrays(w, (rows, cols), "weights")
        self._native = _spdnn._SparseLinear(rows, cols, indptr, indices, data, _vector(bias), bool(relu),
                                            bool(specialize), cache, os.fspath(cache_dir or ""), bool(tune),
                                            bool(inline_ptx))

    @property
    def shape(self):
        return (self._native.rows, self._native.cols)

    def prepare(self, n):
        """Chooses (and compiles or loads) the kernel for N columns now, e.g. before CUDA-graph capture."""
        self._native.prepare(int(n))

    def __call__(self, x):
        """Y for X (K x N, float32): a NumPy array in and out, or a CUDA tensor of torch or CuPy (DLPack),
        computed on that tensor's current stream into a new tensor of the same framework."""
        host = _on_host(x)
        if host is not None:
            y = self._native.forward_host(np.ascontiguousarray(host, dtype=np.float32))
            return y if isinstance(x, np.ndarray) else _torch_from_numpy(y)
        return _device_call(x, lambda x: (self.shape[0], x.shape[1]), self._native.forward_device, "SparseLinear")

    def report(self):
        """Which kernel runs (``path``: specialized or generic, with the ``reason``; ``config``) and what building
        it cost: the same fields as the ``kernel`` object of ``spdnn sparse run --json``."""
        return json.loads(self._native.report_json())


def _torch_from_numpy(y):
    import torch
    return torch.from_numpy(y)


def _pair(v, what):
    """An int or a pair of equal ints (spdnn's convolutions take one stride, padding and dilation)."""
    if isinstance(v, int):
        return v
    a, b = v
    if a != b:
        raise Error(f"{what} {tuple(v)}: spdnn's convolutions take the same {what} along height and width")
    return int(a)


class SparseConv2d:
    """``Y = act(conv(X, W) + bias)`` for a pruned filter W, as ``torch.nn.Conv2d`` computes it with groups 1
    and zero padding, run by a CUDA kernel generated for W and each input size (no im2col buffer).

    ``weight`` is K x C x R x S (NumPy or torch), or K x C*R*S (SciPy, NumPy) with ``kernel_size``;
    ``stride``, ``padding`` and ``dilation`` are ints (or pairs of equal ints). The kernel for an input
    size is chosen on first use (generated, compiled, tuned against the generic kernel) and cached as
    :class:`SparseLinear`'s is. ``inline_ptx`` (the default) writes the generated functions as inline PTX: the
    same code as the C++ statements of ``inline_ptx=False``, compiled 2.4 times faster or more. Needs a CUDA build of spdnn and a GPU; otherwise
    construction raises :class:`spdnn.Error` saying why."""

    def __init__(self, weight, bias=None, stride=1, padding=0, dilation=1, relu=False, kernel_size=None,
                 specialize=True, cache="on", cache_dir=None, tune=True, inline_ptx=True):
        w = _host_matrix(weight)
        if getattr(w, "ndim", 2) == 4:
            k, c, r, s = w.shape
            w = np.asarray(w, dtype=np.float32).reshape(k, c * r * s)
        else:
            if kernel_size is None:
                raise Error("SparseConv2d: a 2-D weight (K x C*R*S) needs kernel_size")
            r = s = kernel_size if isinstance(kernel_size, int) else None
            if r is None:
                r, s = kernel_size
            k = w.shape[0]
            if w.shape[1] % (r * s) != 0:
                raise Error(f"SparseConv2d: {w.shape[1]} weight columns are not C x {r} x {s}")
            c = w.shape[1] // (r * s)
        self.kernel_size = (int(r), int(s))
        self.in_channels, self.out_channels = int(c), int(k)
        indptr, indices, data = _scipy.csr_arrays(w, (k, c * r * s), "weights")
        self._native = _spdnn._SparseConv2d(k, c, r, s, _pair(stride, "stride"), _pair(padding, "padding"),
                                            _pair(dilation, "dilation"), indptr, indices, data, _vector(bias),
                                            bool(relu), bool(specialize), cache, os.fspath(cache_dir or ""), bool(tune),
                                            bool(inline_ptx))

    def output_shape(self, batch, height, width):
        """(N, K, P, Q) of the output for an N x C x height x width input."""
        return tuple(self._native.output_shape(int(batch), int(height), int(width)))

    def prepare(self, batch, height, width):
        """Chooses (and compiles or loads) the kernel for this input size now, e.g. before CUDA-graph capture."""
        self._native.prepare(int(batch), int(height), int(width))

    def __call__(self, x):
        """Y (N x K x P x Q) for X (N x C x H x W, float32): a NumPy array in and out, or a CUDA tensor of torch
        or CuPy (DLPack), computed on that tensor's current stream into a new tensor of the same framework."""
        host = _on_host(x)
        if host is not None:
            y = self._native.forward_host(np.ascontiguousarray(host, dtype=np.float32))
            return y if isinstance(x, np.ndarray) else _torch_from_numpy(y)
        return _device_call(x, lambda x: self.output_shape(*x.shape[:1], *x.shape[2:]), self._native.forward_device,
                            "SparseConv2d")

    def report(self):
        """Which kernel runs and what building it cost (see :meth:`SparseLinear.report`)."""
        return json.loads(self._native.report_json())


def precompile(layers, jobs=0):
    """Compiles the kernels of many layers together, on all cores (``jobs`` threads; 0: all), so that each
    layer's first call for a size only loads and tunes instead of compiling one layer after another.
    ``layers`` is a list of ``(layer, sizes)``: a :class:`SparseLinear` with column counts N, or a
    :class:`SparseConv2d` with input sizes ``(batch, height, width)``. Returns the modules compiled."""
    linears, convs = [], []
    for layer, sizes in layers:
        if isinstance(layer, SparseLinear):
            linears.append((layer._native, [int(n) for n in sizes]))
        elif isinstance(layer, SparseConv2d):
            convs.append((layer._native, [tuple(int(v) for v in size) for size in sizes]))
        else:
            raise TypeError(f"precompile: expected SparseLinear or SparseConv2d layers, got {type(layer).__name__}")
    return _spdnn._precompile(linears, convs, int(jobs))
