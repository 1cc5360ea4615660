"""The Sparse DNN Graph Challenge from Python: networks, inputs, engines.

Each layer computes ``Y <- min(max(Y @ W + bias, 0), clip)``, the bias added to the nonzeros of ``Y @ W``;
rows of W are input neurons, columns output neurons. The answer ("categories") is the 1-based ids of the
inputs whose last row is nonzero. Example::

    import spdnn
    net = spdnn.Network.generate(neurons=1024, layers=120)        # RadiX-Net, the challenge's structure
    x = spdnn.Inputs.generate(neurons=1024, count=60000)           # MNIST if $SPDNN_MNIST is set
    r = spdnn.run(net, x, engine="cpu", mode="structure")
    print(len(r.categories), r.teraedges_per_s, r.active_inputs[:5])
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from . import _scipy, _spdnn
from ._spdnn import Error


def _passthrough(name, doc=None):
    """A read-only property passed through to the C++ object."""
    return property(lambda self: getattr(self._native, name), doc=doc)


class Network:
    """A sparse DNN: layers of neurons x neurons weights, one bias for every neuron, and the clip (32)."""

    def __init__(self, native, source):
        self._native = native
        self.source = source  #: where it came from (a path, or how it was generated)

    @classmethod
    def load(cls, path, neurons=0, layers=0, bias=None):
        """Reads a folder of ``n{N}-l{l}.tsv[.gz]`` layer files or an spdnn network cache. ``neurons`` and
        ``layers`` of 0 take them from the files; ``bias`` defaults to the cache's or the challenge's."""
        return cls(_spdnn._Network.load(os.fspath(path), neurons, layers, bias), os.fspath(path))

    @classmethod
    def generate(cls, neurons=1024, layers=120, seed=1):
        """A RadiX-Net network of the challenge's structure (N = 16 * 2^D), with the challenge's bias."""
        return cls(_spdnn._Network.radixnet(neurons, layers, seed), f"generated: RadiX-Net, seed {seed}")

    @classmethod
    def random(cls, neurons, layers, seed=1, per_row=32, value=1.0 / 16, bias=-0.3):
        """Permuted band matrices: ``per_row`` weights of ``value`` in every row and column, no structure."""
        return cls(_spdnn._Network.random(neurons, layers, seed, per_row, value, bias),
                   f"generated: random, seed {seed}")

    @classmethod
    def from_scipy(cls, layers, bias, clip=32.0):
        """A network from square matrices (SciPy sparse, or dense NumPy with zeros), all of one size.
        Weights are stored as float32, the engines' type."""
        layers = list(layers)
        if not layers:
            raise Error("network: no layers given")
        n = layers[0].shape[0]
        native = _spdnn._Network.empty(n, float(bias), float(clip))
        for i, w in enumerate(layers):
            native.add_layer(*_scipy.csr_arrays(w, (n, n), f"layer {i + 1}"))
        return cls(native, "scipy")

    neurons = _passthrough("neurons")
    num_layers = _passthrough("num_layers")
    edges = _passthrough("edges", "Nonzeros of all layers (the challenge's edge count).")
    clip = _passthrough("clip")

    def __len__(self):
        return self.num_layers

    @property
    def bias(self):
        return self._native.bias

    @bias.setter
    def bias(self, value):
        self._native.bias = float(value)

    def layer(self, index):
        """Layer ``index`` (0-based) as a ``scipy.sparse.csr_matrix``."""
        return _scipy.to_scipy(self._native.layer(index), (self.neurons, self.neurons))

    def save(self, path):
        """Writes spdnn's binary network cache (about 20 times faster to load than TSV)."""
        self._native.save(os.fspath(path))

    def neuron_groups(self):
        """Per layer, each output neuron's group of equivalent neurons (what structure mode computes once)."""
        groups, _seconds = self._native.neuron_groups()
        return groups

    def __repr__(self):
        return (f"spdnn.Network(neurons={self.neurons}, layers={self.num_layers}, edges={self.edges}, "
                f"bias={self.bias:g}, source={self.source!r})")


class Inputs:
    """Input features: one row per input (1-based id = row + 1), one column per neuron."""

    def __init__(self, native, source):
        self._native = native
        self.source = source

    @classmethod
    def load(cls, path, neurons):
        """Reads an images TSV (``image<TAB>neuron<TAB>value``, 1-based, may be gzipped) or a features cache."""
        return cls(_spdnn._Inputs.load(os.fspath(path), neurons), os.fspath(path))

    @classmethod
    def generate(cls, neurons=1024, count=60000, seed=1, mnist=None):
        """Challenge inputs: MNIST training images (``mnist``, else ``$SPDNN_MNIST``) upsampled to
        sqrt(N) x sqrt(N) and thresholded as the official ones; seeded synthetic digits without MNIST."""
        mnist = mnist if mnist is not None else os.environ.get("SPDNN_MNIST", "")
        native, source = _spdnn._Inputs.generate(neurons, count, seed, os.fspath(mnist))
        return cls(native, source)

    @classmethod
    def random(cls, count, neurons, density, seed=1):
        """Binary features, each entry on with probability ``density``."""
        return cls(_spdnn._Inputs.random(count, neurons, density, seed), f"random, seed {seed}")

    @classmethod
    def from_scipy(cls, matrix):
        """Inputs from a count x neurons matrix (SciPy sparse, or dense NumPy with zeros), as float32."""
        rows, cols = matrix.shape
        return cls(_spdnn._Inputs.from_csr(rows, cols, *_scipy.csr_arrays(matrix, None, "inputs")), "scipy")

    count = _passthrough("count")
    neurons = _passthrough("neurons")
    nnz = _passthrough("nnz")

    def __len__(self):
        return self.count

    def to_scipy(self):
        return _scipy.to_scipy(self._native.arrays(), (self.count, self.neurons))

    def save(self, path):
        self._native.save(os.fspath(path))

    def __repr__(self):
        return f"spdnn.Inputs(count={self.count}, neurons={self.neurons}, nnz={self.nnz}, source={self.source!r})"


@dataclasses.dataclass
class Result:
    """What :func:`run` returns."""

    categories: np.ndarray       #: ascending 1-based ids of the inputs whose last row is nonzero (int64)
    active_inputs: np.ndarray    #: per layer, inputs with a nonzero row after it
    nnz: np.ndarray              #: per layer, nonzeros of Y after it
    preprocess_s: float          #: the engine's preparation (structure discovery included)
    inference_s: float           #: the layer loop, what TeraEdges/s counts
    teraedges_per_s: float       #: inputs x edges / inference seconds / 1e12
    engine: str
    device: str
    mode: str                    #: the mode that ran: general or structure
    structure: Optional[dict]    #: with mode structure or auto: what discovery found, per layer
    note: str                    #: a fallback the engine or mode made, if any
    features: Optional[object]   #: the final Y (scipy.sparse.csr_matrix) with keep_features=True

    def report(self):
        """The run as a dict shaped like ``spdnn run --json``'s (``spdnn.plot`` draws either)."""
        layers = []
        for i, (a, z) in enumerate(zip(self.active_inputs.tolist(), self.nnz.tolist())):
            layer = {"layer": i + 1, "active_inputs": a, "nnz": z}
            if self.structure is not None:
                layer["distinct_neurons"] = int(self.structure["distinct_neurons"][i])
                for key in ("distinct_rows", "saturated_rows", "carried_at_clip"):
                    if len(self.structure[key]) > i:
                        layer[key] = int(self.structure[key][i])
            layers.append(layer)
        return {"spdnn_version": _spdnn.__version__, "device": self.device, "engine": self.engine, "mode": self.mode,
                "timing_s": {"preprocess": self.preprocess_s, "inference": self.inference_s},
                "teraedges_per_s": self.teraedges_per_s, "categories": {"count": int(len(self.categories))},
                "layers": layers}


def run(network, inputs, engine="auto", mode="general", threads=0, keep_features=False):
    """Runs the network on the inputs and returns a :class:`Result`.

    ``engine``: ``auto`` (cuda with a GPU, else cpu), ``cpu``, ``reference`` or ``cuda``.
    ``mode``: ``general``; ``structure`` computes each distinct neuron and input once, with the same answer,
    counts and features bit for bit (cpu engine); ``auto`` picks structure where it gains.
    ``threads``: CPU threads, 0 for all. The GIL is released while it runs."""
    if not isinstance(network, Network) or not isinstance(inputs, Inputs):
        raise TypeError("run(network, inputs): expected spdnn.Network and spdnn.Inputs")
    d = _spdnn.run(network._native, inputs._native, engine, mode, threads, keep_features)
    features = d.pop("features")
    if features is not None:
        features = _scipy.to_scipy(features, (inputs.count, network.neurons))
    return Result(features=features, **d)


def read_categories(path):
    """A categories file (one 1-based id per line, may be gzipped), sorted, as int64."""
    return _spdnn.read_categories(os.fspath(path))


def verify(categories, truth):
    """Compares an answer with the truth (arrays of ids, or a path for the truth):
    returns ``{"passed", "missing", "extra"}``."""
    if isinstance(truth, (str, os.PathLike)):
        truth = read_categories(truth)
    answer, want = set(np.asarray(categories).tolist()), set(np.asarray(truth).tolist())
    return {"passed": answer == want, "missing": len(want - answer), "extra": len(answer - want)}
