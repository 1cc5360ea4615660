"""Whole pruned models end to end: spdnn.torch.sparsify against PyTorch, outputs checked, CUDA-graph times.

    PYTHONPATH=<spdnn package> python3 bench/models/e2e.py --json OUT.json [--models resnet50 mobilenet]
        [--sparsity 0.9 0.95] [--batch 1 8] [--mobilenet-weights DIR] [--no-tune]

For each model, sparsity and batch: the model (models.py) in eval mode on the GPU; its sparsified copy
(BatchNorm folded, sparse enough Linear and Conv2d layers on spdnn kernels, the rest in PyTorch strict fp32);
the logits' largest absolute difference from the dense model in strict fp32 and in float64, over the largest
absolute logit; times per call of CUDA-graph replays, interleaved rounds, of the sparsified model and of the
dense one in fp32 with TF32 off, with TF32, and in fp16 channels-last; and per-layer times (each leaf module
alone as a CUDA graph, on the input it saw) of the sparsified model and of the dense one with BatchNorm
folded, so that a missed target names the layers that hold it back. Needs PyTorch, torchvision, a CUDA build
of spdnn and a GPU. The JSON is rewritten after every case."""

import argparse
import copy
import json
import os
import pathlib
import statistics
import sys
import time

import torch

import spdnn
import spdnn.torch as st

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import models  # noqa: E402


def set_tf32(on):
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def relative_error(got, want):
    return ((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-30)).item()


def capture(fn, x, warmup=3):
    """fn(x) as a CUDA graph, after warm-up calls on a side stream (spdnn chooses its kernels there)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side), torch.no_grad():
        for _ in range(warmup):
            fn(x)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.no_grad():
        fn(x)
    return graph


def replay_ms(graph, iters):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        graph.replay()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / iters


def interleaved_ms(graphs, rounds, iters):
    """Median over rounds of each graph's time per replay, the graphs taking turns within a round."""
    times = {name: [] for name in graphs}
    for _ in range(rounds):
        for name, graph in graphs.items():
            times[name].append(replay_ms(graph, iters))
    return {name: statistics.median(t) for name, t in times.items()}


@torch.no_grad()
def layer_ms(model, x, rounds=3, iters=20):
    """Milliseconds per call of each leaf module (spdnn's layers counted as leaves), each captured alone as
    a CUDA graph on the input it saw in the model, replayed ``iters`` times, the median of ``rounds``: no
    launch or event overhead, so the layers' times rank them."""
    inputs, spdnn_layers, handles, modules = {}, [], [], {}

    def record(name):
        def hook(module, args):
            inputs.setdefault(name, args[0].detach().clone())
        return hook

    for name, m in model.named_modules():  # the leaves, spdnn's layers counted as leaves whatever they hold
        inside_spdnn = any(name.startswith(f"{n}.") for n in spdnn_layers)
        if isinstance(m, (st.SparseLinear, st.SparseConv1x1, st.SparseConv2d)):
            spdnn_layers.append(name)
        if name and not inside_spdnn and (not list(m.children()) or name in spdnn_layers):
            modules[name] = m
            handles.append(m.register_forward_pre_hook(record(name)))
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    totals = {}
    for name, m in modules.items():
        if name in inputs:
            graph = capture(m, inputs[name])
            totals[name] = statistics.median(replay_ms(graph, iters) for _ in range(rounds))
    return totals


def run_case(name, dense, fast, decisions, batch, rounds, iters):
    device = next(dense.parameters()).device
    x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(batch)).to(device)
    set_tf32(False)
    with torch.no_grad():
        want32, got = dense(x), fast(x)
        want64 = copy.deepcopy(dense).double()(x.double())
    fp16 = copy.deepcopy(dense).half().to(memory_format=torch.channels_last)
    x16 = x.half().contiguous(memory_format=torch.channels_last)
    graphs = {"spdnn": capture(fast, x), "fp32": capture(dense, x)}
    set_tf32(True)
    graphs["tf32"] = capture(dense, x)
    set_tf32(False)
    graphs["fp16"] = capture(lambda _: fp16(x16), x)
    ms = interleaved_ms(graphs, rounds, iters)
    folded, _ = st.fold_batchnorms(dense)
    dense_layers, fast_layers = layer_ms(folded, x), layer_ms(fast, x)
    replaced = {d.name for d in decisions if d.replaced and not d.kind.startswith("BatchNorm")}
    layers = [{"name": n, "replaced": n in replaced, "dense_ms": dense_layers.get(n), "spdnn_ms": fast_layers.get(n)}
              for n in fast_layers]
    return {
        "model": name, "batch": batch,
        "replaced": sorted(replaced), "kept": [str(d) for d in decisions if not d.replaced],
        "folded_batchnorms": sum(d.replaced for d in decisions if d.kind.startswith("BatchNorm")),
        "error_vs_fp32": relative_error(got, want32), "error_vs_fp64": relative_error(got, want64),
        "ms": ms, "speedup": {k: ms[k] / ms["spdnn"] for k in ("fp32", "tf32", "fp16")},
        "replaced_layers_ms": {"dense_fp32": sum(l["dense_ms"] or 0 for l in layers if l["replaced"]),
                               "spdnn": sum(l["spdnn_ms"] or 0 for l in layers if l["replaced"])},
        "kept_layers_ms": sum(l["spdnn_ms"] or 0 for l in layers if not l["replaced"]),
        "layers": layers,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", required=True, type=pathlib.Path)
    ap.add_argument("--models", nargs="+", default=["resnet50", "mobilenet"], choices=["resnet50", "mobilenet"])
    ap.add_argument("--sparsity", nargs="+", type=float, default=[0.9, 0.95], help="ResNet-50's global sparsities")
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--mobilenet-weights", default="../shared/data/sparsert/mobilenet")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--no-tune", action="store_true", help="each layer's first candidate kernel, untimed (a faster start)")
    ap.add_argument("--inline-ptx", action=argparse.BooleanOptionalAction, default=True,
                    help="generated functions as inline PTX (the default; compiles faster) or C++")
    ap.add_argument("--command", default=" ".join(sys.argv))
    ap.add_argument("--commit", default=os.environ.get("SPDNN_COMMIT", "unknown"),
                    help="the spdnn commit the report names (default $SPDNN_COMMIT): the device's copy has no history")
    a = ap.parse_args()
    if not torch.cuda.is_available() or spdnn.gpu_count() == 0:
        sys.exit("e2e.py: needs a GPU that both PyTorch and spdnn can use")
    built = []
    if "resnet50" in a.models:
        built += [(f"ResNet-50 {100 * s:g}%", lambda s=s: (models.resnet50(s), [])) for s in a.sparsity]
    if "mobilenet" in a.models:
        built.append(("MobileNetV1 (SparseRT 1x1, 90%)", lambda: models.mobilenet_v1(a.mobilenet_weights)))
    cases, notes = [], []

    def write(complete):  # after every case, so that a run cut short keeps what it measured
        report = {"spdnn_version": spdnn.__version__, "commit": a.commit, "torch": torch.__version__,
                  "gpu": torch.cuda.get_device_name(),
                  "command": a.command, "complete": complete, "layer_times": "graph", "notes": notes, "cases": cases}
        a.json.write_text(json.dumps(report, indent=1) + "\n")

    for name, build in built:
        dense, model_notes = build()
        notes += model_notes
        # Every batch's kernels compiled at once, on all cores (batch 1 and 8 share the convolutions').
        device = next(dense.parameters()).device
        examples = [torch.randn(batch, 3, 224, 224, device=device) for batch in a.batch]
        start = time.perf_counter()
        fast, decisions = st.sparsify(dense, min_sparsity=0.7, example_input=examples, tune=not a.no_tune,
                                      inline_ptx=a.inline_ptx)
        sparsify_s = time.perf_counter() - start
        print(f"{name}: sparsified in {sparsify_s:.0f} s", flush=True)
        for batch in a.batch:
            case = run_case(name, dense, fast, decisions, batch, a.rounds, a.iters)
            case["sparsify_s"] = sparsify_s  # folding, replacing and compiling every kernel (not tuning)
            case["tuned"] = not a.no_tune
            case["inline_ptx"] = a.inline_ptx
            cases.append(case)
            print(f"{name}, batch {batch}: spdnn {case['ms']['spdnn']:.3f} ms; fp32 {case['ms']['fp32']:.3f} "
                  f"({case['speedup']['fp32']:.2f}x), TF32 {case['speedup']['tf32']:.2f}x, fp16 {case['speedup']['fp16']:.2f}x; "
                  f"error {case['error_vs_fp32']:.1e} vs fp32, {case['error_vs_fp64']:.1e} vs fp64", flush=True)
            write(False)
    write(True)


if __name__ == "__main__":
    main()
