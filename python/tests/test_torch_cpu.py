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


@pytest.mark.parametrize("conv,why", [
    (torch.nn.Conv2d(4, 8, 3, padding=1), None),
    (torch.nn.Conv2d(4, 8, 3, padding="same", dilation=2), None),
    (torch.nn.Conv2d(4, 8, (3, 1)), None),
    (torch.nn.Conv2d(4, 8, 3, stride=(1, 2)), "same stride"),
    (torch.nn.Conv2d(4, 8, 3, padding=(1, 0)), "same padding"),
    (torch.nn.Conv2d(4, 8, 3, groups=2), "groups = 2"),
    (torch.nn.Conv2d(4, 8, 2, padding="same"), "unevenly"),
    (torch.nn.Conv2d(4, 8, 3, padding=1, padding_mode="reflect"), "padding mode 'reflect'"),
])
def test_which_convolutions_spdnn_can_run(conv, why):
    got = st._why_not_conv(conv)
    assert (got is None) if why is None else (why in got), got


def test_padding_as_numbers():
    assert st._padding(torch.nn.Conv2d(4, 8, 3, padding="same", dilation=2)) == (2, 2)
    assert st._padding(torch.nn.Conv2d(4, 8, 3, padding="valid")) == (0, 0)
    assert st._padding(torch.nn.Conv2d(4, 8, 3, padding=(1, 1))) == (1, 1)


def test_example_input_shapes_reach_every_layer_and_leave_the_model_as_it_was():
    model = torch.nn.Sequential(torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(16, 8, 3, stride=2),
                                torch.nn.Flatten(), torch.nn.Linear(8 * 81, 5))
    x = torch.randn(3, 8, 20, 20)
    with torch.no_grad():
        before = model(x)
    assert st._input_shapes(model, x) == {"0": [(3, 8, 20, 20)], "2": [(3, 16, 20, 20)], "4": [(3, 648)]}
    with torch.no_grad():
        assert torch.equal(model(x), before)  # the hooks are gone and changed nothing
    assert not any(m._forward_pre_hooks for m in model.modules())
    # Several batches: each layer's shapes in order, each once.
    one = torch.randn(1, 8, 20, 20)
    assert st._input_shapes(model, [one, x, one]) == {"0": [(1, 8, 20, 20), (3, 8, 20, 20)],
                                                      "2": [(1, 16, 20, 20), (3, 16, 20, 20)], "4": [(1, 648), (3, 648)]}


def test_relu_followers_are_the_relus_that_alone_read_a_layer():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = torch.nn.Conv2d(4, 4, 3, padding=1), torch.nn.Conv2d(4, 4, 1)
            self.c, self.d = torch.nn.Conv2d(4, 4, 1), torch.nn.Linear(4 * 36, 3)
            self.shared, self.act = torch.nn.Conv2d(4, 4, 1), torch.nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.act(self.a(x))                  # fused: the module's ReLU alone reads a
            z = torch.nn.functional.relu(self.b(y))  # fused: F.relu
            w = self.c(z)
            w = w.relu() + w                         # kept: c's output is read twice
            s = torch.relu(self.shared(w))           # kept: shared is called twice
            s = self.shared(s)
            return torch.relu(self.d(s.flatten(1)))  # fused

    traced = torch.fx.symbolic_trace(Net())
    assert sorted(st.relu_followers(traced)) == ["a", "b", "d"]
    assert st.relu_followers(Net()) == {}  # no graph, nothing to fuse


def test_fused_relu_leaves_the_folded_graph_computing_the_same():
    model = conv_bn().eval()
    folded, _ = st.fold_batchnorms(model)
    relus = st.relu_followers(folded)
    assert list(relus) == ["0"]  # conv 0 -> (BatchNorm, folded) -> ReLU; conv 3 and the Linear have none
    x = torch.randn(2, 12, 5, 6)
    with torch.no_grad():
        want = folded(x)
        # What sparsify does with a fused ReLU, with the layer's kernel replaced by its dense layer and ReLU.
        conv = folded.get_submodule("0")
        folded.add_submodule("0", torch.nn.Sequential(conv, torch.nn.ReLU()))
        relus["0"].replace_all_uses_with(relus["0"].args[0])
        folded.graph.erase_node(relus["0"])
        folded.recompile()
        assert torch.equal(folded(x), want)
