"""SparseLinear from Python, against float64 NumPy and torch.nn.functional.linear. Needs a CUDA build and a
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


@needs_gpu
@pytest.mark.parametrize("m,k,n,density", [(64, 256, 49, 0.1), (77, 130, 8, 0.05), (9, 40, 1, 0.3)])
def test_numpy_in_and_out_matches_float64(m, k, n, density, tmp_path):
    w, rng = pruned(m, k, density, seed=m + k)
    b = rng.standard_normal(m).astype(np.float32)
    x = rng.standard_normal((k, n)).astype(np.float32)
    layer = spdnn.SparseLinear(w, bias=b, relu=True, cache_dir=tmp_path)
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
