"""Plots of spdnn's JSON reports (matplotlib, PNG).

    python -m spdnn.plot REPORT.json [-o OUT.png]

- a run report (``spdnn run --json``, or ``Result.report()``): active inputs and nonzeros per layer, and in
  structure mode the rows actually computed;
- a benchmark summary with ``cases`` (e.g. bench/results/structure_cpu2core.json): TeraEdges/s per network,
  one bar per mode or engine;
- a side-by-side summary with the peers (``networks`` or ``calls``, e.g. bench/results/challenge_peers_h100.json,
  general_peers_staged_h100.json, or the peers kit's summary.json): TeraEdges/s per network of spdnn's modes
  beside the HPEC 2020 code and XY-2021;
- a whole-model benchmark (bench/models/e2e.py: ``cases`` of a ``model``): each replaced layer's speedup
  over dense PyTorch fp32, one panel per model and batch;
- a pruned-layer benchmark (``spdnn sparse bench`` or ``spdnn sparse conv bench``: ``cases`` with
  ``timings``): the geometric-mean speedup of spdnn's kernels over each baseline, per sparsity and batch.
"""

import argparse
import json
import math
import pathlib
import sys


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # the [plot] extra
        raise SystemExit("spdnn.plot needs matplotlib: pip install 'spdnn[plot]'") from e
    return plt


def plot_layers(report, out):
    """Active inputs and nonzeros after each layer of one run."""
    plt = _pyplot()
    layers = report["layers"]
    x = [l["layer"] for l in layers]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    top.plot(x, [l["active_inputs"] for l in layers], label="active inputs")
    if layers and "distinct_rows" in layers[0]:
        top.plot(x, [l["distinct_rows"] for l in layers], label="distinct rows computed")
    if layers and "saturated_rows" in layers[0]:
        top.plot(x, [l["saturated_rows"] for l in layers], label="saturated inputs", linestyle=":")
    if layers and "carried_at_clip" in layers[0]:
        top.plot(x, [l["carried_at_clip"] for l in layers], label="inputs carried at the clip", linestyle="--")
    top.set_yscale("symlog")
    top.set_ylabel("rows")
    top.legend()
    bottom.plot(x, [l["nnz"] for l in layers], color="tab:red")
    bottom.set_yscale("log")
    bottom.set_ylabel("nonzeros of Y")
    bottom.set_xlabel("layer")
    net = report.get("network", {})
    title = f"{report.get('engine', '')} engine, mode {report.get('mode', 'general')}"
    if net:
        title = f"N={net['neurons']} L={net['layers']}: " + title
    top.set_title(f"{title}, {report.get('teraedges_per_s', 0):.3g} TeraEdges/s")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def _grouped_bars(groups, series, title, out, ylabel="TeraEdges/s", line=None):
    """One bar per series in each group (log scale, values labelled, a horizontal rule at `line`);
    `series`: (label, values)."""
    plt = _pyplot()
    from matplotlib.ticker import NullFormatter, ScalarFormatter
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 1.8 * len(groups)), 4.5))
    for i, (label, values) in enumerate(series):
        bars = ax.bar([j + i * width for j in range(len(groups))], values, width, label=label)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(groups))], groups, rotation=15)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel(ylabel)
    if line is not None:
        ax.axhline(line, color="black", linewidth=0.8)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_cases(report, out):
    """TeraEdges/s per network, one bar per mode (or engine)."""
    cases = report["cases"]
    key = "engine" if any("engine" in c for c in cases) else "mode_asked"
    networks = list(dict.fromkeys(c["network"] for c in cases))
    series = [(s, [next((c["teraedges_per_s"] for c in cases if c["network"] == n and c[key] == s), 0) for n in networks])
              for s in dict.fromkeys(c[key] for c in cases)]
    _grouped_bars(networks, series,
                  f"{report.get('device', '')}, spdnn {report.get('spdnn_version', '')} ({report.get('commit', '')})", out)


# The side-by-side summaries' series: key, label.
_PEER_SERIES = [("spdnn_general", "spdnn general"), ("spdnn_structure", "spdnn structure"), ("hpec20", "HPEC 2020 code"),
                ("xy2021_wall", "XY-2021 (wall)"), ("xy2021_event", "XY-2021 (kernel events)")]


def peer_rows(report):
    """(rows, gpu, commit) of a side-by-side report, one flat row a network (the keys of _PEER_SERIES), from
    any of its three forms: flat ``networks`` (bench/results/structure_peers_*.json, challenge_peers_*.json),
    ``calls`` each with its ``networks`` and spdnn's general figure as ``spdnn`` (general_peers_*.json), or
    the peers kit's own summary.json (``networks`` with each engine's ``best``, and ``environment``)."""
    if "calls" in report:
        rows = [dict(n, spdnn_general=n.get("spdnn_general", n.get("spdnn"))) for c in report["calls"] for n in c["networks"]]
        return rows, report.get("gpu", ""), report.get("commit", "")
    nets = report["networks"]
    if nets and "best" in nets[0]:
        rows = [{"network": n["network"], "spdnn_general": n["best"].get("spdnn"), "hpec20": n["best"].get("hpec20"),
                 "xy2021_wall": n["best"].get("xy2021_wall"), "xy2021_event": n["best"].get("xy2021_event")} for n in nets]
        env = report.get("environment", [])
        gpu = env[1] if len(env) > 1 else ""
        commit = next((line.split(":", 1)[1].strip() for line in env if line.startswith("spdnn commit:")), "")
        return rows, gpu, commit
    return nets, report.get("gpu", ""), report.get("commit", "")


def plot_peers(report, out):
    """TeraEdges/s per network: spdnn's modes beside the peers."""
    nets, gpu, commit = peer_rows(report)
    series = [(label, [n.get(key) or 0 for n in nets]) for key, label in _PEER_SERIES if any(n.get(key) for n in nets)]
    _grouped_bars([n["network"] for n in nets], series, f"{gpu.split(',')[0]}, spdnn at {commit}", out)


# The baselines of the pruned-layer benchmarks (`spdnn sparse bench`, `spdnn sparse conv bench`): path, label.
_KERNEL_BASELINES = [("cublas_fp32", "strict fp32 cuBLAS"), ("cudnn_fp32", "strict fp32 cuDNN"), ("cublas_tf32", "TF32 cuBLAS"),
                     ("cudnn_tf32", "TF32 cuDNN"), ("cublas_fp16", "fp16 cuBLAS"), ("cudnn_fp16", "fp16 cuDNN"),
                     ("cusparse", "cuSPARSE"), ("im2col", "spdnn on im2col")]


def _geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def plot_kernel_speedups(report, out):
    """Per (set,) sparsity and batch, the geometric-mean speedup of spdnn's kernels over each baseline (CUDA
    graph times; cases where either path failed are left out)."""
    groups = {}
    for c in report["cases"]:
        key = " ".join(str(k) for k in (c.get("set"), c["sparsity"], f"b{c['batch']}" if "batch" in c else f"N={c.get('n')}")
                       if k)
        groups.setdefault(key, []).append(c["timings"])
    names = list(groups)
    series = []
    for path, label in _KERNEL_BASELINES:
        values = []
        for key in names:
            ratios = [t[path]["graph_us"] / t["specialized"]["graph_us"] for t in groups[key]
                      if "graph_us" in t.get(path, {}) and "graph_us" in t.get("specialized", {})]
            values.append(_geomean(ratios) if ratios else 0)
        if any(values):
            series.append((label, values))
    device = report.get("device") or report.get("gpu", "")  # "gpu" in files before 0.5
    _grouped_bars(names, series, f"{device}, spdnn {report.get('spdnn_version', '')} ({report.get('commit', '')}): "
                  "speedup of spdnn's kernels", out, ylabel="speedup (geometric mean)", line=1.0)


def plot_model_layers(report, out):
    """Per model and batch, each replaced layer's speedup (dense fp32 time / spdnn time, eager), in order."""
    plt = _pyplot()
    cases = report["cases"]
    fig, axes = plt.subplots(len(cases), 1, figsize=(10, 2.6 * len(cases)), squeeze=False)
    for ax, case in zip(axes[:, 0], cases):
        layers = [l for l in case["layers"] if l["replaced"] and l["dense_ms"] and l["spdnn_ms"]]
        speedup = [l["dense_ms"] / l["spdnn_ms"] for l in layers]
        ax.bar(range(len(layers)), speedup, color=["tab:green" if s >= 1 else "tab:red" for s in speedup])
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(layers)), [l["name"] for l in layers], rotation=90, fontsize=6)
        ax.set_ylabel("speedup")
        whole = case["speedup"]["fp32"]
        ax.set_title(f"{case['model']}, batch {case['batch']}: whole model {whole:.2f}x over fp32", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_report(report, out):
    """Draws `report` (a dict, or a path to its JSON) into the PNG `out`; returns the kind drawn."""
    if not isinstance(report, dict):
        report = json.loads(pathlib.Path(report).read_text())
    if "cases" in report and report["cases"] and "model" in report["cases"][0]:
        plot_model_layers(report, out)
        return "model layers"
    if "cases" in report and report["cases"] and "timings" in report["cases"][0]:
        plot_kernel_speedups(report, out)
        return "kernel speedups"
    if "cases" in report:
        plot_cases(report, out)
        return "cases"
    if "networks" in report or "calls" in report:
        plot_peers(report, out)
        return "peers"
    if "layers" in report:
        plot_layers(report, out)
        return "layers"
    raise ValueError("not an spdnn report: it has neither 'layers' (a run), 'cases' (a benchmark) nor 'networks' "
                     "or 'calls' (a side-by-side with the peers)")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m spdnn.plot", description=__doc__.split("\n\n")[0])
    ap.add_argument("report", type=pathlib.Path, help="a JSON report of spdnn run or of a benchmark")
    ap.add_argument("-o", "--out", type=pathlib.Path, help="PNG to write (default: REPORT with .png)")
    a = ap.parse_args(argv)
    out = a.out or a.report.with_suffix(".png")
    try:
        kind = plot_report(a.report, out)
    except (OSError, ValueError, KeyError) as e:
        print(f"spdnn.plot: error: {a.report}: {e}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({kind})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
