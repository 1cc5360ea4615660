"""PyTorch integration: pruned ``nn.Linear`` and ``nn.Conv2d`` layers on spdnn's generated kernels.

    import spdnn.torch
    fast, report = spdnn.torch.sparsify(model.eval().cuda(), min_sparsity=0.7)
    for line in report: print(line)

Layers with at least ``min_sparsity`` zeros are replaced; the others are kept and the report says why.
In eval mode each BatchNorm that follows a convolution or linear layer alone is first folded into it
(``fold_batchnorms``, through ``torch.fx``; scaling a filter per output channel keeps its zeros), so
the model comes back as a ``torch.fx.GraphModule``. Needs PyTorch (``pip install 'spdnn[torch]'``), a CUDA
build of spdnn and a GPU; inputs are float32 CUDA tensors, computed on their current stream. 1x1
convolutions of stride 1 run as sparse linear layers over the channels for one image, as sparse 1x1
convolutions for a batch; other convolutions (3x3, strided, padded, dilated) run as spdnn sparse
convolutions where they have groups 1, zero padding and the same stride, padding and dilation along
height and width.
"""

import copy
import dataclasses

import torch

from .sparse import SparseConv2d as _ConvKernel
from .sparse import SparseLinear as _Kernel
from .sparse import precompile as _precompile


def sparsity(weight):
    """The fraction of exact zeros in a weight tensor."""
    return 1.0 - torch.count_nonzero(weight).item() / weight.numel()


class SparseLinear(torch.nn.Module):
    """``nn.Linear`` on a kernel generated for its (pruned) weight: ``y = x @ W.T + b`` over the last axis
    (then ReLU, fused into the kernel, with ``relu``)."""

    def __init__(self, linear, tune=True, relu=False, inline_ptx=True):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        bias = linear.bias.detach() if linear.bias is not None else None
        self.kernel = _Kernel(linear.weight.detach(), bias=bias, relu=relu, tune=tune, inline_ptx=inline_ptx)

    def _kernel_for(self, shape):
        """(the spdnn layer, its size) that computes an input of ``shape``."""
        n = 1
        for d in shape[:-1]:
            n *= d
        return self.kernel, n

    def forward(self, x):
        lead = x.shape[:-1]
        columns = x.reshape(-1, self.in_features).t().contiguous()  # K x N, the kernel's layout
        return self.kernel(columns.float()).t().reshape(*lead, self.out_features)


class SparseConv1x1(torch.nn.Module):
    """A 1x1 ``nn.Conv2d`` (stride 1, no padding, groups 1). One image runs as a sparse linear layer over the
    channels (NCHW of one image is already channels x pixels); a batch of several runs as a sparse 1x1
    convolution, which reads NCHW as it is instead of permuting it to channels x (images x pixels) and back
    (two extra passes over the activations, as long as the layer itself at ResNet-50 sizes)."""

    def __init__(self, conv, tune=True, relu=False, inline_ptx=True):
        super().__init__()
        self.out_channels = conv.out_channels
        bias = conv.bias.detach() if conv.bias is not None else None
        self.kernel = _Kernel(conv.weight.detach().reshape(conv.out_channels, conv.in_channels), bias=bias,
                              relu=relu, tune=tune, inline_ptx=inline_ptx)
        self._weight, self._bias, self._tune, self._relu = conv.weight.detach(), bias, tune, relu
        self._inline_ptx = inline_ptx
        self._batched = None

    def batched(self):
        """The convolution kernel of batches of several images (built on first use)."""
        if self._batched is None:
            self._batched = _ConvKernel(self._weight, bias=self._bias, relu=self._relu, tune=self._tune,
                                        inline_ptx=self._inline_ptx)
        return self._batched

    def _kernel_for(self, shape):
        """(the spdnn layer, its size) that computes an input of ``shape``: one image the linear layer over
        h*w pixels, a batch the convolution."""
        n, _, h, w = shape
        return (self.kernel, h * w) if n == 1 else (self.batched(), (n, h, w))

    def forward(self, x):
        n, c, h, w = x.shape
        kernel, _ = self._kernel_for(x.shape)
        if kernel is self.kernel:  # NCHW of one image is already channels x pixels
            return kernel(x.reshape(c, h * w).float().contiguous()).reshape(1, self.out_channels, h, w)
        return kernel(x.float().contiguous())


class SparseConv2d(torch.nn.Module):
    """An ``nn.Conv2d`` (groups 1, zero padding) on a convolution kernel generated for its pruned filter (then
    ReLU, fused into the kernel, with ``relu``)."""

    def __init__(self, conv, tune=True, relu=False, inline_ptx=True):
        super().__init__()
        self.out_channels = conv.out_channels
        bias = conv.bias.detach() if conv.bias is not None else None
        self.kernel = _ConvKernel(conv.weight.detach(), bias=bias, stride=conv.stride, padding=_padding(conv),
                                  dilation=conv.dilation, relu=relu, tune=tune, inline_ptx=inline_ptx)

    def _kernel_for(self, shape):
        """(the spdnn layer, its size) that computes an input of ``shape``."""
        return self.kernel, (shape[0], shape[2], shape[3])

    def forward(self, x):
        return self.kernel(x.float().contiguous())


def _padding(conv):
    """The padding of a convolution as numbers ('valid' is none; 'same' is PyTorch's, stride 1)."""
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation))
    return conv.padding


def _why_not_conv(conv):
    """Why spdnn's sparse convolution cannot run this ``nn.Conv2d``, or None."""
    if conv.groups != 1:
        return f"groups = {conv.groups}: spdnn's convolutions have groups 1"
    if conv.padding_mode != "zeros":
        return f"padding mode '{conv.padding_mode}': spdnn pads with zeros"
    if conv.padding == "same" and any((d * (k - 1)) % 2 for k, d in zip(conv.kernel_size, conv.dilation)):
        return "padding 'same' with an even kernel pads unevenly"
    for what, pair in (("stride", conv.stride), ("padding", _padding(conv)), ("dilation", conv.dilation)):
        if pair[0] != pair[1]:
            return f"{what} {tuple(pair)}: spdnn's convolutions take the same {what} along height and width"
    return None


@dataclasses.dataclass
class Decision:
    name: str
    kind: str
    sparsity: float
    replaced: bool
    why: str

    def __str__(self):
        if self.kind.startswith("BatchNorm"):
            return f"{self.name}: {self.kind}, {'folded' if self.replaced else 'kept'} ({self.why})"
        action = "replaced" if self.replaced else "kept"
        return f"{self.name}: {self.kind}, {100 * self.sparsity:.1f}% zeros, {action} ({self.why})"


def _is_pointwise(conv):
    return (conv.kernel_size == (1, 1) and conv.stride == (1, 1) and conv.padding in ((0, 0), "valid")
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding_mode == "zeros")


_BATCHNORMS = (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def fold_batchnorms(model, inplace=False):
    """Returns (model, decisions): the model with each BatchNorm folded into the convolution or linear layer
    before it where ``torch.fx.experimental.optimization.fuse`` can (eval mode, that layer's output read by
    the BatchNorm alone, running statistics), a ``GraphModule`` then; one :class:`Decision` per BatchNorm.
    Runs anywhere PyTorch does (no GPU needed)."""
    norms = [(name, type(m).__name__) for name, m in model.named_modules() if isinstance(m, _BATCHNORMS)]
    why = "model in training mode: BatchNorm is folded in eval mode only" if model.training else None
    if norms and why is None:
        from torch.fx.experimental.optimization import fuse
        try:
            fused = fuse(model, inplace=inplace)
        except Exception as e:  # symbolic tracing fails on data-dependent control flow
            why = f"torch.fx could not trace the model ({type(e).__name__}: {e})"
        else:
            left = {name for name, m in fused.named_modules() if isinstance(m, _BATCHNORMS)}
            return fused, [Decision(n, k, 0.0, n not in left,
                                    "its input is read elsewhere too, or it has no running statistics" if n in left
                                    else "into the layer before it") for n, k in norms]
    return _copy_unless(model, inplace), [Decision(n, k, 0.0, False, why) for n, k in norms]


_RELU_FUNCTIONS = (torch.relu, torch.nn.functional.relu, torch.relu_)


def relu_followers(model):
    """{layer name: ReLU node} of a ``torch.fx.GraphModule``: each ``nn.Linear`` and ``nn.Conv2d`` whose
    output is read by one ReLU alone (an ``nn.ReLU`` module, ``torch.relu``, ``F.relu`` or ``.relu()``), where
    the ReLU can run inside the layer's kernel instead of as a pass of its own. Empty for other models.
    Runs anywhere PyTorch does (no GPU needed)."""
    if not isinstance(model, torch.fx.GraphModule):
        return {}
    modules, followers = dict(model.named_modules()), {}

    def is_relu(node):
        if node.op == "call_module":
            return isinstance(modules.get(node.target), torch.nn.ReLU)
        if node.op == "call_function":
            return node.target in _RELU_FUNCTIONS
        return node.op == "call_method" and node.target in ("relu", "relu_")

    calls = {}
    for node in model.graph.nodes:
        if node.op == "call_module" and isinstance(modules.get(node.target), (torch.nn.Linear, torch.nn.Conv2d)):
            calls.setdefault(node.target, []).append(node)
    for name, nodes in calls.items():
        users = list(nodes[0].users)
        # A layer called more than once keeps its ReLU: its kernel serves every call.
        if len(nodes) == 1 and len(users) == 1 and is_relu(users[0]) and users[0].args[:1] == (nodes[0],):
            followers[name] = users[0]
    return followers


def _copy_unless(model, inplace):
    return model if inplace else copy.deepcopy(model)


def _input_shapes(model, example_input):
    """The input shapes of each ``nn.Linear`` and ``nn.Conv2d`` of the model on ``example_input`` (a batch, or a
    list of batches), by name."""
    shapes, handles = {}, []

    def record(name):
        def hook(module, args):  # returns None: the input passes on unchanged
            shape = tuple(args[0].shape)
            if shape not in shapes.setdefault(name, []):
                shapes[name].append(shape)
        return hook

    for name, m in model.named_modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
            handles.append(m.register_forward_pre_hook(record(name)))
    try:
        with torch.no_grad():
            for batch in example_input if isinstance(example_input, (list, tuple)) else [example_input]:
                model(batch)
    finally:
        for h in handles:
            h.remove()
    return shapes


def _kernel_sizes(module, shapes):
    """[(spdnn layer, its sizes)] of a replacement module for inputs of ``shapes``."""
    sizes = {}  # layer -> sizes, in order
    for shape in shapes:
        layer, size = module._kernel_for(shape)  # what forward() runs for that shape
        sizes.setdefault(layer, [])
        if size not in sizes[layer]:
            sizes[layer].append(size)
    return list(sizes.items())


def sparsify(model, min_sparsity=0.7, inplace=False, fold_batchnorm=True, example_input=None, tune=True,
             fuse_relu=True, inline_ptx=True):
    """Returns (model, decisions): the model with its sparse enough ``nn.Linear`` and ``nn.Conv2d``
    layers running on spdnn kernels (a copy unless ``inplace``), and one :class:`Decision` per layer
    looked at, replaced or kept, with the reason. With ``fold_batchnorm`` (the default) the BatchNorm
    layers of an eval-mode model are folded first, each with a Decision saying whether it was. With an
    ``example_input`` (a batch the model will see, or a list of them, e.g. batch 1 and 8), every replaced
    layer's kernels for those inputs' sizes are compiled at once, on all cores (:func:`spdnn.precompile`),
    instead of one layer after another on the first call. With ``tune=False`` each layer compiles and runs
    its first candidate kernel instead of timing a few: a start several times faster, kernels that may be
    slower. With ``fuse_relu`` (the default), a ReLU that alone reads a replaced layer's output runs inside
    that layer's kernel (:func:`relu_followers`; needs the ``GraphModule`` that folding makes) instead of as
    a pass of its own. ``inline_ptx`` (the default) writes every generated function as inline PTX (the same
    code as ``inline_ptx=False``'s C++ statements, compiled 2.4 times faster or more)."""
    if fold_batchnorm:
        model, decisions = fold_batchnorms(model, inplace)
    else:
        model, decisions = _copy_unless(model, inplace), []
    shapes = _input_shapes(model, example_input) if example_input is not None else {}
    relus = relu_followers(model) if fuse_relu else {}
    compile_list, fused = [], []
    for parent_name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            name = f"{parent_name}.{child_name}" if parent_name else child_name
            if isinstance(child, torch.nn.Linear):
                kind, make, ok, why = "Linear", SparseLinear, True, ""
                options = {"inline_ptx": inline_ptx}
            elif isinstance(child, torch.nn.Conv2d):
                kind = f"Conv2d {child.kernel_size[0]}x{child.kernel_size[1]}"
                why = _why_not_conv(child)
                make, ok = (SparseConv1x1 if _is_pointwise(child) else SparseConv2d), why is None
                why = why or ""
                options = {"inline_ptx": inline_ptx}
            else:
                continue
            s = sparsity(child.weight.detach())
            if ok and s < min_sparsity:
                ok, why = False, f"fewer zeros than min_sparsity {min_sparsity:g}"
            if ok:
                replacement = make(child, tune=tune, relu=name in relus, **options)
                setattr(parent, child_name, replacement)
                why = "spdnn kernel, ReLU fused" if name in relus else "spdnn kernel"
                if name in relus:
                    fused.append(name)
                if name in shapes:
                    compile_list += _kernel_sizes(replacement, shapes[name])
            decisions.append(Decision(name, kind, s, ok, why))
    for name in fused:  # the layer's kernel applies the ReLU: its node passes the layer's output on
        relus[name].replace_all_uses_with(relus[name].args[0])
        model.graph.erase_node(relus[name])
    if fused:
        model.recompile()
    if compile_list:
        _precompile(compile_list)
    return model, decisions
