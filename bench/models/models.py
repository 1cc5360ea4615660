"""The whole models of the end-to-end benchmark (e2e.py), built without downloading anything: torchvision's
ResNet-50 with random weights pruned by global magnitude, and MobileNetV1 whose pointwise (1x1) layers carry
the real pruned SparseRT weights (../shared/data/sparsert/mobilenet). BatchNorm statistics are calibrated
on random images after pruning, so activations keep the scale a trained network has."""

import gzip
import io
import pathlib

import numpy as np
import torch
import torchvision
from torch import nn
from torch.nn.utils import prune

# MobileNetV1 (Howard et al. 2017): the 13 depthwise-separable blocks as (input channels, output channels,
# depthwise stride); the pointwise layer of block k is SparseRT's contraction_1x1_k.
MOBILENET_BLOCKS = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
                    (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 1024, 2),
                    (1024, 1024, 1)]


def prune_global(model, amount):
    """Global magnitude pruning of every Conv2d and Linear weight to `amount` zeros (torch.nn.utils.prune),
    made permanent."""
    params = [(m, "weight") for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for m, name in params:
        prune.remove(m, name)
    return model


@torch.no_grad()
def calibrate_batchnorm(model, shape, batches=4, seed=0):
    """Running statistics from `batches` random batches of `shape` (cumulative average), then eval mode."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    device = next(model.parameters()).device
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    for _ in range(batches):
        model(torch.randn(shape, generator=g).to(device))
    return model.eval()


def resnet50(sparsity, seed=0, device="cuda"):
    """torchvision ResNet-50, random weights (seeded), pruned to `sparsity` by global magnitude. The weights
    of every convolution and the classifier are drawn from one distribution, N(0, 1): with torchvision's
    initialization, whose scale differs by layer, global magnitude pruning would zero the classifier
    entirely (its logits then the bias alone) and 99.8% of layer4's 3x3 filters while leaving 27% in
    layer1's 1x1s. BatchNorm calibration puts the activations back to scale."""
    torch.manual_seed(seed)
    model = torchvision.models.resnet50()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.normal_()
    model = prune_global(model, sparsity).to(device)
    return calibrate_batchnorm(model, (8, 3, 224, 224), seed=seed)


def _npy(path):
    return np.load(io.BytesIO(gzip.open(path).read()))


def mobilenet_v1(weights_dir, seed=0, device="cuda"):
    """MobileNetV1 at 224 x 224: dense stem and depthwise layers (random, seeded), pointwise layers with the
    real SparseRT weights and biases; where a layer's file is missing (SparseRT ships 12 of 13), random
    weights pruned to 90% by magnitude. Returns (model, notes)."""
    torch.manual_seed(seed)
    weights_dir = pathlib.Path(weights_dir)
    layers = [nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True)]
    notes = []
    for k, (cin, cout, stride) in enumerate(MOBILENET_BLOCKS):
        pointwise = nn.Conv2d(cin, cout, 1)
        w_path, b_path = weights_dir / f"contraction_1x1_{k}.npy.gz", weights_dir / f"contraction_1x1_{k}_bias.npy.gz"
        with torch.no_grad():
            if w_path.exists() and b_path.exists():
                w, b = _npy(w_path), _npy(b_path)
                if w.shape != (cout, cin) or b.shape != (cout,):
                    raise ValueError(f"{w_path}: shape {w.shape} (bias {b.shape}), expected ({cout}, {cin})")
                pointwise.weight.copy_(torch.from_numpy(w).reshape(cout, cin, 1, 1))
                pointwise.bias.copy_(torch.from_numpy(b))
            else:
                prune.l1_unstructured(pointwise, "weight", amount=0.9)
                prune.remove(pointwise, "weight")
                notes.append(f"pointwise layer {k} ({cin} -> {cout}): no SparseRT file, random weights pruned to 90%")
        layers += [nn.Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False), nn.BatchNorm2d(cin),
                   nn.ReLU(inplace=True), pointwise, nn.ReLU(inplace=True)]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1024, 1000)]
    model = nn.Sequential(*layers).to(device)
    return calibrate_batchnorm(model, (8, 3, 224, 224), seed=seed), notes
