"""SparseLinear and SparseConv2d from Python, against float64 NumPy and torch.nn.functional. Needs a CUDA build and a
GPU: skipped, with the reason, elsewhere (where a CPU-only build must say why it cannot)."""

import numpy as np
import pytest
import scipy.sparse as sp

import spdnn

needs_gpu = pytest.mark.skipif(spdnn.gpu_count() == 0, reason="no usable GPU here")


def pruned(m, k, density, seed):
    rng = np.random.default_rng(seed)
    w = sp.random(m, k, density=density, random_state=rng, format="csr", dtype=np.float32)
    w.data = (rng.standard_normal(w.nnz) * 0.1).astype(np.float32)
    return w, rng


def test_without_a_gpu_construction_says_why():
    if spdnn.gpu_count() > 0:
        pytest.skip("a GPU is present")
    with pytest.raises(spdnn.Error, match="GPU|CUDA"):
        spdnn.SparseLinear(sp.eye(4, format="csr", dtype=np.float32))
    with pytest.raises(spdnn.Error, match="GPU|CUDA"):
        spdnn.SparseLinear(sp.eye(4, format="csr", dtype=np.float32), inline_ptx=False)


@needs_gpu
@pytest.mark.parametrize("m,k,n,density", [(64, 256, 49, 0.1), (77, 130, 8, 0.05), (9, 40, 1, 0.3)])
@pytest.mark.parametrize("inline_ptx", [False, True])
def test_numpy_in_and_out_matches_float64(m, k, n, density, inline_ptx, tmp_path):
    w, rng = pruned(m, k, density, seed=m + k)
    b = rng.standard_normal(m).astype(np.float32)
    x = rng.standard_normal((k, n)).astype(np.float32)
    layer = spdnn.SparseLinear(w, bias=b, relu=True, cache_dir=tmp_path, inline_ptx=inline_ptx)
    y = layer(x)
    want = np.maximum(w.toarray().astype(np.float64) @ x.astype(np.float64) + b[:, None], 0)
    assert y.shape == (m, n)
    assert np.abs(y - want).max() <= 1e-5 * max(np.abs(want).max(), 1e-30)
    assert layer.report()["path"] in ("specialized", "generic")


@needs_gpu
def test_torch_cuda_tensor_in_place_matches_functional_linear(tmp_path):
    torch = pytest.importorskip("torch")
    w, rng = pruned(96, 200, 0.1, seed=5)
    dense = torch.from_numpy(w.toarray())
    layer = spdnn.SparseLinear(dense, cache_dir=tmp_path)  # torch weights in
    batch = torch.from_numpy(rng.standard_normal((16, 200)).astype(np.float32)).cuda()
    y = layer(batch.t().contiguous())  # K x N in, M x N out, on the tensor's device
    assert y.is_cuda and y.shape == (96, 16)
    want = torch.nn.functional.linear(batch.double(), dense.double().cuda())
    assert (y.t().double() - want).abs().max().item() <= 1e-5 * want.abs().max().item()


def conv_reference(x, w, stride, padding, dilation):
    """The float64 direct convolution of x (N x C x H x W) with w (K x C x R x S), as torch.nn.Conv2d."""
    n, c, h, wd = x.shape
    k, _, r, s = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    p = (h + 2 * padding - dilation * (r - 1) - 1) // stride + 1
    q = (wd + 2 * padding - dilation * (s - 1) - 1) // stride + 1
    y = np.zeros((n, k, p, q))
    for i in range(r):
        for j in range(s):
            patch = xp[:, :, i * dilation:i * dilation + stride * (p - 1) + 1:stride,
                       j * dilation:j * dilation + stride * (q - 1) + 1:stride]
            y += np.einsum("nchw,kc->nkhw", patch, w[:, :, i, j].astype(np.float64))
    return y


def pruned_filter(k, c, r, density, seed):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((k, c, r, r)) * 0.1).astype(np.float32)
    w[rng.random(w.shape) >= density] = 0
    return w, rng


def test_conv_reference_is_right_on_a_hand_computed_case():
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.zeros((1, 1, 3, 3), dtype=np.float32)
    w[0, 0, 0, 0], w[0, 0, 2, 2] = 1, 2  # top-left + 2 x bottom-right of each window
    y = conv_reference(x, w, stride=1, padding=0, dilation=1)
    assert y.tolist() == [[[[0 + 2 * 10, 1 + 2 * 11], [4 + 2 * 14, 5 + 2 * 15]]]]


def test_conv_without_a_gpu_says_why_and_bad_geometry_first():
    w, _ = pruned_filter(6, 4, 3, 0.3, 1)
    with pytest.raises(spdnn.Error, match="kernel_size"):
        spdnn.SparseConv2d(w.reshape(6, 36))
    with pytest.raises(spdnn.Error, match="same stride"):
        spdnn.SparseConv2d(w, stride=(1, 2))
    with pytest.raises(spdnn.Error, match="biases"):
        spdnn.SparseConv2d(w, bias=np.ones(5, dtype=np.float32))
    if spdnn.gpu_count() == 0:
        with pytest.raises(spdnn.Error, match="GPU|CUDA"):
            spdnn.SparseConv2d(w, padding=1)


@needs_gpu
@pytest.mark.parametrize("k,c,size,stride,padding,dilation,batch", [(37, 19, 13, 1, 1, 1, 1), (20, 33, 9, 2, 1, 1, 3),
                                                                    (8, 5, 7, 1, 2, 2, 2), (64, 64, 56, 1, 1, 1, 1)])
@pytest.mark.parametrize("inline_ptx", [False, True])
def test_conv_numpy_in_and_out_matches_float64(k, c, size, stride, padding, dilation, batch, inline_ptx, tmp_path):
    w, rng = pruned_filter(k, c, 3, 0.1, seed=k + c)
    b = rng.standard_normal(k).astype(np.float32)
    x = rng.standard_normal((batch, c, size, size)).astype(np.float32)
    layer = spdnn.SparseConv2d(w, bias=b, stride=stride, padding=padding, dilation=dilation, relu=True, cache_dir=tmp_path,
                               inline_ptx=inline_ptx)
    y = layer(x)
    want = np.maximum(conv_reference(x, w, stride, padding, dilation) + b[None, :, None, None], 0)
    assert y.shape == want.shape == layer.output_shape(batch, size, size)
    assert np.abs(y - want).max() <= 1e-5 * max(np.abs(want).max(), 1e-30)


@needs_gpu
def test_conv_torch_cuda_tensor_matches_functional_conv2d(tmp_path):
    torch = pytest.importorskip("torch")
    w, rng = pruned_filter(48, 32, 3, 0.1, seed=11)
    layer = spdnn.SparseConv2d(torch.from_numpy(w), padding=1, cache_dir=tmp_path)
    x = torch.from_numpy(rng.standard_normal((2, 32, 14, 14)).astype(np.float32)).cuda()
    y = layer(x)
    want = torch.nn.functional.conv2d(x.double(), torch.from_numpy(w).double().cuda(), padding=1)
    assert y.is_cuda and y.shape == want.shape
    assert (y.double() - want).abs().max().item() <= 1e-5 * want.abs().max().item()


def test_precompile_of_nothing_and_of_other_objects():
    assert spdnn.precompile([]) == 0
    with pytest.raises(TypeError, match="SparseLinear or SparseConv2d"):
        spdnn.precompile([(object(), [1])])
