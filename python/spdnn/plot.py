"""Plots of spdnn's JSON reports (matplotlib, PNG).

    python -m spdnn.plot REPORT.json [-o OUT.png]

- a run report (``spdnn run --json``, or ``Result.report()``): active inputs and nonzeros per layer, and in
  structure mode the rows actually computed;
- a benchmark summary with ``cases`` (e.g. bench/results/structure_cpu2core.json, or a side-by-side peer
  benchmark): TeraEdges/s per network, one bar per mode or engine.
"""

import argparse
import json
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


def plot_cases(report, out):
    """TeraEdges/s per network, one bar per mode (or engine), log scale."""
    plt = _pyplot()
    cases = report["cases"]
    key = "engine" if any("engine" in c for c in cases) else "mode_asked"
    networks = list(dict.fromkeys(c["network"] for c in cases))
    series = list(dict.fromkeys(c[key] for c in cases))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(networks)), 4.5))
    for k, s in enumerate(series):
        values = [next((c["teraedges_per_s"] for c in cases if c["network"] == n and c[key] == s), 0) for n in networks]
        bars = ax.bar([i + k * width for i in range(len(networks))], values, width, label=s)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
    ax.set_xticks([i + width * (len(series) - 1) / 2 for i in range(len(networks))], networks, rotation=15)
    ax.set_yscale("log")
    ax.set_ylabel("TeraEdges/s")
    ax.set_title(f"{report.get('device', '')}, spdnn {report.get('spdnn_version', '')} ({report.get('commit', '')})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_report(report, out):
    """Draws `report` (a dict, or a path to its JSON) into the PNG `out`; returns the kind drawn."""
    if not isinstance(report, dict):
        report = json.loads(pathlib.Path(report).read_text())
    if "cases" in report:
        plot_cases(report, out)
        return "cases"
    if "layers" in report:
        plot_layers(report, out)
        return "layers"
    raise ValueError("not an spdnn report: it has neither 'layers' (a run) nor 'cases' (a benchmark)")


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
