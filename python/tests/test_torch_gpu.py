"""spdnn.torch against the dense PyTorch layers they replace (float64 on the same weights). Needs torch, a
CUDA build and a GPU: skipped, with the reason, elsewhere."""

import pytest

import spdnn

torch = pytest.importorskip("torch")
if spdnn.gpu_count() == 0 or not torch.cuda.is_available():
    pytest.skip("no usable GPU here", allow_module_level=True)
import spdnn.torch as st  # noqa: E402

# The layers kept dense run in PyTorch: strict fp32 there too (TF32 convolutions are ~1e-3 off float64).
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False


def prune_(module, fraction, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w = module.weight
        w.mul_((torch.rand(w.shape, generator=g) >= fraction).to(w.device))


def close(got, want):
    return (got.double() - want.double()).abs().max().item() <= 1e-5 * max(want.abs().max().item(), 1e-30)


def test_linear_and_pointwise_conv_match_the_dense_layers():
    torch.manual_seed(0)
    lin = torch.nn.Linear(300, 130).cuda()
    conv = torch.nn.Conv2d(64, 96, 1).cuda()
    prune_(lin, 0.9, 1)
    prune_(conv, 0.9, 2)
    x = torch.randn(5, 7, 300, device="cuda")
    assert close(st.SparseLinear(lin)(x), torch.nn.functional.linear(x.double(), lin.weight.double(), lin.bias.double()))
    pointwise = st.SparseConv1x1(conv)
    for batch in (1, 3):  # one image on the linear kernel, a batch on the 1x1 convolution
        img = torch.randn(batch, 64, 9, 11, device="cuda")
        want = torch.nn.functional.conv2d(img.double(), conv.weight.double(), conv.bias.double())
        assert close(pointwise(img), want)
        assert (pointwise._batched is not None) == (batch > 1)


@pytest.mark.parametrize("stride,padding,dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (2, 0, 1)])
def test_conv_matches_the_dense_layer(stride, padding, dilation):
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(19, 37, 3, stride=stride, padding=padding, dilation=dilation).cuda()
    prune_(conv, 0.9, 8)
    for batch in (1, 4):
        img = torch.randn(batch, 19, 13, 11, device="cuda")
        want = torch.nn.functional.conv2d(img.double(), conv.weight.double(), conv.bias.double(), stride=stride,
                                          padding=padding, dilation=dilation)
        got = st.SparseConv2d(conv)(img)
        assert got.shape == want.shape and close(got, want)


def test_sparsify_replaces_what_is_sparse_and_says_why_not():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 1), torch.nn.ReLU(), torch.nn.Conv2d(32, 32, 3, padding=1),
                                torch.nn.Conv2d(32, 48, 1), torch.nn.Conv2d(48, 48, 3, padding=1, groups=2),
                                torch.nn.Flatten(), torch.nn.Linear(48 * 36, 10)).cuda().eval()
    prune_(model[0], 0.9, 3)
    prune_(model[2], 0.9, 4)
    prune_(model[4], 0.9, 9)
    prune_(model[6], 0.95, 5)  # model[3] stays dense
    fast, decisions = st.sparsify(model, min_sparsity=0.7)
    replaced = {d.name: d.replaced for d in decisions}
    assert replaced == {"0": True, "2": True, "3": False, "4": False, "6": True}
    assert isinstance(fast[2], st.SparseConv2d) and isinstance(fast[0], st.SparseConv1x1)
    assert "groups" in next(d.why for d in decisions if d.name == "4")
    assert "min_sparsity" in next(d.why for d in decisions if d.name == "3")
    x = torch.randn(2, 16, 6, 6, device="cuda")
    with torch.no_grad():
        assert close(fast(x), model.double()(x.double()))


def test_sparsify_with_an_example_input_compiles_every_kernel_first(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDNN_KERNEL_CACHE", str(tmp_path))
    torch.manual_seed(4)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 16, 1),
                                torch.nn.Conv2d(16, 8, 3, stride=2), torch.nn.Flatten(), torch.nn.Linear(8 * 81, 5)).cuda().eval()
    for i, m in enumerate(model):
        if hasattr(m, "weight"):
            prune_(m, 0.9, 10 + i)
    x = torch.randn(3, 8, 20, 20, device="cuda")
    fast, decisions = st.sparsify(model, min_sparsity=0.7, example_input=x)
    assert all(d.replaced for d in decisions), [str(d) for d in decisions]
    with torch.no_grad():
        assert close(fast(x), model.double()(x.double()))
    # The kernels each layer ran (the 1x1 at batch 3 runs as a convolution): loaded, none compiled late.
    for kernel in (fast[0].kernel, fast[2].batched(), fast[3].kernel, fast[5].kernel):
        assert kernel.report()["modules_compiled"] == 0, kernel.report()


def test_sparsify_untuned_compiles_one_kernel_per_layer_for_several_batches(tmp_path, monkeypatch):
    monkeypatch.setenv("SPDNN_KERNEL_CACHE", str(tmp_path))
    torch.manual_seed(5)
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 1)).cuda().eval()
    for i, m in enumerate(model):
        if hasattr(m, "weight"):
            prune_(m, 0.9, 20 + i)
    batches = [torch.randn(n, 8, 12, 12, device="cuda") for n in (1, 3)]
    fast, decisions = st.sparsify(model, min_sparsity=0.7, example_input=batches, tune=False)
    assert all(d.replaced for d in decisions), [str(d) for d in decisions]
    with torch.no_grad():
        for x in batches:
            assert close(fast(x), model.double()(x.double()))
    # Batch 1 of the 1x1 runs as a linear layer, batch 3 as a convolution: each loaded what was compiled,
    # one untimed candidate.
    for kernel in (fast[0].kernel, fast[2].kernel, fast[2].batched()):
        report = kernel.report()
        assert report["modules_compiled"] == 0 and not report.get("tuning"), report


def conv_bn_model():
    """1x1 convolutions each followed by a BatchNorm with running statistics far from the identity."""
    torch.manual_seed(2)
    model = torch.nn.Sequential(torch.nn.Conv2d(24, 40, 1), torch.nn.BatchNorm2d(40), torch.nn.ReLU(),
                                torch.nn.Conv2d(40, 16, 1, bias=False), torch.nn.BatchNorm2d(16))
    with torch.no_grad():
        for bn in (model[1], model[4]):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    prune_(model[0], 0.9, 6)
    prune_(model[3], 0.9, 7)
    return model.cuda()


def test_sparsify_folds_batchnorm_in_eval_mode():
    model = conv_bn_model().eval()
    fast, decisions = st.sparsify(model, min_sparsity=0.7)
    by_name = {d.name: d for d in decisions}
    assert by_name["1"].replaced and by_name["4"].replaced, [str(d) for d in decisions]
    assert "folded" in str(by_name["1"])
    assert by_name["0"].replaced and by_name["3"].replaced  # zeros survive the per-channel scaling
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    x = torch.randn(2, 24, 5, 7, device="cuda")
    with torch.no_grad():
        assert close(fast(x), model.double()(x.double()))


def test_sparsify_keeps_batchnorm_in_training_mode_and_says_why():
    model = conv_bn_model().train()
    fast, decisions = st.sparsify(model, min_sparsity=0.7)
    norms = [d for d in decisions if d.kind == "BatchNorm2d"]
    assert len(norms) == 2 and not any(d.replaced for d in norms)
    assert all("training mode" in d.why for d in norms)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules()) == 2
    _, unfolded = st.sparsify(model.eval(), min_sparsity=0.7, fold_batchnorm=False)
    assert not any(d.kind == "BatchNorm2d" for d in unfolded)


def test_sparsify_fuses_the_relu_after_a_replaced_layer():
    model = conv_bn_model().eval()
    fast, decisions = st.sparsify(model, min_sparsity=0.7)
    by_name = {d.name: d for d in decisions}
    assert "ReLU fused" in by_name["0"].why and "ReLU" not in by_name["3"].why, [str(d) for d in decisions]
    assert not any(n.op == "call_module" and n.target == "2" for n in fast.graph.nodes)  # the ReLU's own pass
    x = torch.randn(3, 24, 5, 7, device="cuda")
    with torch.no_grad():
        assert close(fast(x), model.double()(x.double()))
        # Bit for bit where both run the same kernel configuration (tuning may pick another for each).
        fused, _ = st.sparsify(model, min_sparsity=0.7, tune=False)
        unfused, _ = st.sparsify(model, min_sparsity=0.7, tune=False, fuse_relu=False)
        assert any(n.target == "2" for n in unfused.graph.nodes)
        assert torch.equal(unfused(x), fused(x))
