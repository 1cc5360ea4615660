"""The challenge from Python, against independent references: a float64 NumPy evaluation of the formula on
problems where every intermediate value is exact (dyadic weights, bias and inputs), the reference engine,
and the official first 1200 images with their 19 categories."""

import importlib.metadata

import numpy as np
import pytest
import scipy.sparse as sp

import spdnn


def numpy_reference(layers, x, bias, clip=32.0):
    """The formula, in float64: y' = min(max(y @ W + bias, 0), clip) where y @ W is nonzero, else 0."""
    y = x.toarray().astype(np.float64)
    for w in layers:
        z = y @ w.toarray().astype(np.float64)
        y = np.where(z != 0, np.minimum(np.maximum(z + bias, 0), clip), 0.0)
    return y


BIAS = -0.5


def dyadic_problem(n=96, layers=6, count=150, seed=3):
    """Weights k/4 (k = 1..3), bias -1/2, binary inputs: after L layers every value is a multiple of
    4^-L below 32, so every sum is exact in float32 and float64, in any order (L <= 9)."""
    rng = np.random.default_rng(seed)
    ws = []
    for _ in range(layers):
        w = sp.random(n, n, density=0.05, random_state=rng, format="csr",
                      data_rvs=lambda k: rng.integers(1, 4, size=k) / 4.0)
        ws.append(w)
    x = sp.random(count, n, density=0.2, random_state=rng, format="csr", data_rvs=lambda k: np.ones(k))
    return ws, x


def test_version_is_the_package_version():
    try:
        installed = importlib.metadata.version("spdnn")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("spdnn is imported from a folder, not installed (bench/challenge/device_run.sh)")
    assert spdnn.__version__ == installed


@pytest.mark.parametrize("mode", ["general", "structure", "auto"])
@pytest.mark.parametrize("engine", ["cpu", "reference"])
def test_scipy_network_matches_float64_numpy(engine, mode):
    ws, x = dyadic_problem()
    want = numpy_reference(ws, x, BIAS)
    net = spdnn.Network.from_scipy(ws, bias=BIAS)
    inputs = spdnn.Inputs.from_scipy(x)
    if engine == "reference" and mode == "structure":
        with pytest.raises(spdnn.Error, match="engine reference has no structure mode"):
            spdnn.run(net, inputs, engine=engine, mode=mode)
        return
    r = spdnn.run(net, inputs, engine=engine, mode=mode, keep_features=True)
    alive = np.flatnonzero((want != 0).any(axis=1)) + 1
    assert 0 < len(alive) < x.shape[0], "the problem must have survivors and deaths"
    np.testing.assert_array_equal(r.categories, alive)
    np.testing.assert_array_equal(r.features.toarray(), want.astype(np.float32))
    assert r.active_inputs[-1] == len(alive)
    assert r.nnz[-1] == np.count_nonzero(want)


def test_structure_mode_on_radixnet_gives_the_general_answer_and_reports_groups():
    net = spdnn.Network.generate(neurons=1024, layers=12)
    x = spdnn.Inputs.generate(neurons=1024, count=400, mnist="")  # synthetic digits
    general = spdnn.run(net, x, engine="cpu", keep_features=True)
    structure = spdnn.run(net, x, engine="cpu", mode="structure", keep_features=True)
    assert structure.mode == "structure"
    np.testing.assert_array_equal(structure.categories, general.categories)
    np.testing.assert_array_equal(structure.active_inputs, general.active_inputs)
    np.testing.assert_array_equal(structure.nnz, general.nnz)
    assert (structure.features != general.features).nnz == 0
    assert structure.structure["distinct_neurons"].tolist() == [64] * 5 + [32] + [64] * 5 + [32]
    groups = net.neuron_groups()
    assert len(groups) == 12 and len(set(groups[0].tolist())) == 64


def test_round_trips_through_scipy_and_files(tmp_path):
    ws, x = dyadic_problem(n=40, layers=2, count=10)
    net = spdnn.Network.from_scipy(ws, bias=BIAS)
    assert (net.layer(1) != ws[1].astype(np.float32)).nnz == 0
    assert net.edges == sum(w.nnz for w in ws)
    net.save(tmp_path / "net.spdnn")
    again = spdnn.Network.load(tmp_path / "net.spdnn")
    assert again.bias == BIAS and again.num_layers == 2
    assert (again.layer(0) != net.layer(0)).nnz == 0
    inputs = spdnn.Inputs.from_scipy(x)
    inputs.save(tmp_path / "x.spdnn")
    assert (spdnn.Inputs.load(tmp_path / "x.spdnn", 40).to_scipy() != x).nnz == 0
    # Dense NumPy with zeros is accepted too.
    dense = spdnn.Network.from_scipy([w.toarray() for w in ws], bias=BIAS)
    assert dense.edges == net.edges


def test_official_first_1200_images_give_the_19_categories(data_dir):
    root = data_dir / "graphchallenge"
    net = spdnn.Network.load(root / "neuron1024")
    x = spdnn.Inputs.load(root / "sparse-images-1024-first1200.tsv.gz", 1024)
    truth = spdnn.read_categories(root / "neuron1024-l120-categories-first1200.tsv.gz")
    assert len(truth) == 19
    for mode in ("general", "structure"):
        r = spdnn.run(net, x, engine="cpu", mode=mode)
        assert spdnn.verify(r.categories, truth) == {"passed": True, "missing": 0, "extra": 0}
        assert r.active_inputs[:3].tolist() == [1098, 786, 415]  # DATA.md


def test_bad_input_raises_with_the_message(tmp_path):
    with pytest.raises(spdnn.Error, match="no such weights folder"):
        spdnn.Network.load(tmp_path / "missing")
    layers = tmp_path / "w"
    layers.mkdir()
    (layers / "n16-l1.tsv").write_text("1\t2\t0.5\n3\tx\t1\n")
    with pytest.raises(spdnn.Error, match=r"n16-l1.tsv:2"):
        spdnn.Network.load(layers, bias=-0.3)
    (tmp_path / "images.tsv").write_text("1\t17\t1\n")
    with pytest.raises(spdnn.Error, match="images.tsv:1"):
        spdnn.Inputs.load(tmp_path / "images.tsv", 16)
    bad = sp.csr_matrix(np.array([[0, np.nan], [1, 0]], dtype=np.float32))
    with pytest.raises(spdnn.Error, match="not finite"):
        spdnn.Network.from_scipy([bad], bias=-0.3)
    with pytest.raises(spdnn.Error, match="shape 3 x 3, expected 2 x 2"):
        spdnn.Network.from_scipy([sp.eye(2), sp.eye(3)], bias=-0.3)
    net = spdnn.Network.from_scipy([sp.eye(2)], bias=-0.3)
    with pytest.raises(spdnn.Error, match="2 neurons but the inputs have 3"):
        spdnn.run(net, spdnn.Inputs.from_scipy(sp.eye(3)))
    with pytest.raises(spdnn.Error, match="mode 'fast'"):
        spdnn.run(net, spdnn.Inputs.from_scipy(sp.eye(2)), mode="fast")
    with pytest.raises(spdnn.Error, match="unknown engine 'warp'"):
        spdnn.run(net, spdnn.Inputs.from_scipy(sp.eye(2)), engine="warp")
    with pytest.raises(spdnn.Error, match="layer 5"):
        net.layer(5)
