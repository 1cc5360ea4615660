"""spdnn.torch's parts that need PyTorch but no GPU: folding BatchNorm into the layer before it, against the
unfolded model in float64. Skipped, with the reason, where PyTorch is not installed."""

import pytest

torch = pytest.importorskip("torch")
import spdnn.torch as st  # noqa: E402


def conv_bn(train=False):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Conv2d(12, 20, 1), torch.nn.BatchNorm2d(20), torch.nn.ReLU(),
                                torch.nn.Conv2d(20, 8, 3, padding=1, bias=False), torch.nn.BatchNorm2d(8),
                                torch.nn.Flatten(), torch.nn.Linear(8 * 5 * 6, 10), torch.nn.BatchNorm1d(10))
    with torch.no_grad():
        for m in model:
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            elif hasattr(m, "weight"):
                m.weight.mul_((torch.rand(m.weight.shape) >= 0.9).float())
    return model.train(train)


def test_folded_model_matches_and_keeps_the_zeros():
    model = conv_bn().eval()
    folded, decisions = st.fold_batchnorms(model)
    assert [(d.name, d.replaced) for d in decisions] == [("1", True), ("4", True), ("7", True)]
    assert "folded (into the layer before it)" in str(decisions[0])
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) for m in folded.modules())
    for name in ("0", "3", "6"):  # scaling each output channel keeps every zero a zero
        assert torch.equal(folded.get_submodule(name).weight == 0, model.get_submodule(name).weight == 0)
    x = torch.randn(4, 12, 5, 6)
    with torch.no_grad():
        got, want = folded(x).double(), model.double()(x.double())
    assert (got - want).abs().max().item() <= 1e-5 * want.abs().max().item()


def test_what_cannot_be_folded_is_kept_with_the_reason():
    _, decisions = st.fold_batchnorms(conv_bn(train=True))
    assert len(decisions) == 3 and not any(d.replaced for d in decisions)
    assert all("training mode" in d.why for d in decisions)

    class Residual(torch.nn.Module):  # the convolution's output is read twice: folding would change it
        def __init__(self):
            super().__init__()
            self.conv, self.bn = torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4)

        def forward(self, x):
            y = self.conv(x)
            return self.bn(y) + y

    folded, decisions = st.fold_batchnorms(Residual().eval())
    assert [(d.name, d.replaced) for d in decisions] == [("bn", False)]
    assert "read elsewhere" in decisions[0].why
    x = torch.randn(1, 4, 3, 3)
    model = Residual().eval()
    folded, _ = st.fold_batchnorms(model)
    assert torch.equal(folded(x), model(x))
