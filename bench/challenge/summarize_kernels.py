#!/usr/bin/env python3
"""Summarizes a kernel_run.sh call: per network and layer-kernel shape, the better of two repetitions
(TeraEdges/s, inference and preprocessing seconds), whether every shape gave the same categories and
per-layer counts, and where the time goes by layer (from the --layer-times run).

Usage: summarize_kernels.py OUT RESULT.json RESULT.md --command "..." [--commit C] [--note "..."]
"""
import argparse
import glob
import json
import os
import re


def load_runs(out):
    runs = {}
    for path in glob.glob(os.path.join(out, "runs", "*.json")):
        m = re.match(r"(\d+x\d+)-(.+)-(rep\d|layers)\.json$", os.path.basename(path))
        if not m:
            continue
        net, shape, tag = m.groups()
        with open(path) as f:
            report = json.load(f)
        cats_path = path[: -len(".json")] + ".cats"
        cats = open(cats_path).read().split() if os.path.exists(cats_path) else None
        runs.setdefault(net, {}).setdefault(shape.replace("-", ","), {})[tag] = (report, cats)
    return runs


def layer_split(report):
    """Seconds in the layers while most inputs are active vs after the count settles (within 10% of
    the last layer's), and the settled layers' mean."""
    layers = report["layers"]
    last = layers[-1]["active_inputs"]
    settled = next(i for i, l in enumerate(layers) if l["active_inputs"] <= 1.1 * last)
    secs = [l.get("seconds", 0.0) for l in layers]
    steady = secs[settled:]
    return {
        "settled_after_layer": settled,
        "early_s": sum(secs[:settled]),
        "steady_s": sum(steady),
        "steady_layer_ms": 1e3 * sum(steady) / max(len(steady), 1),
        "first_layer_ms": 1e3 * secs[0],
    }


def nets_key(net):
    n, l = net.split("x")
    return int(n), int(l)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("json_out")
    ap.add_argument("md_out")
    ap.add_argument("--command", required=True)
    ap.add_argument("--commit", default="")
    ap.add_argument("--note", default="")
    args = ap.parse_args()
    runs = load_runs(args.out)
    gpu = open(os.path.join(args.out, "gpu.txt")).read().strip() if os.path.exists(os.path.join(args.out, "gpu.txt")) else ""
    result = {"gpu": gpu, "command": args.command, "commit": args.commit, "networks": []}
    lines = []
    for net in sorted(runs, key=nets_key):
        shapes = runs[net]
        entry = {"network": net, "shapes": []}
        reference = None
        for shape, tags in shapes.items():
            reps = [tags[t][0] for t in ("rep1", "rep2") if t in tags]
            if not reps:
                continue
            best = max(reps, key=lambda r: r["teraedges_per_s"])
            cats = tags.get("rep1", tags.get("rep2"))[1]
            counts = [(l["active_inputs"], l["nnz"]) for l in best["layers"]]
            if reference is None:
                reference = (cats, counts)
            row = {
                "shape": shape,
                "kernel": best.get("execution", {}).get("kernel", ""),
                "teraedges_per_s": best["teraedges_per_s"],
                "inference_s": best["timing_s"]["inference"],
                "preprocess_s": best["timing_s"]["preprocess"],
                "categories": best["categories"]["count"],
                "same_categories": cats == reference[0],
                "same_layer_counts": counts == reference[1],
            }
            if "layers" in tags:
                row["layer_times"] = layer_split(tags["layers"][0])
            entry["shapes"].append(row)
        result["networks"].append(entry)
    with open(args.json_out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")

    lines.append(f"GPU: {gpu}. Command: `{args.command}`" + (f", spdnn at {args.commit}" if args.commit else ""))
    lines.append("")
    lines.append("| network | kernel (SPDNN_LAYER_KERNEL) | TE/s | inference s | preprocess s | early layers s | "
                 "steady ms/layer | categories | same answer |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for e in result["networks"]:
        for r in e["shapes"]:
            t = r.get("layer_times", {})
            early = f"{t['early_s']:.4f} ({t['settled_after_layer']})" if t else ""
            steady = f"{t['steady_layer_ms']:.3f}" if t else ""
            same = "yes" if r["same_categories"] and r["same_layer_counts"] else "**no**"
            lines.append(f"| {e['network']} | {r['shape']} | {r['teraedges_per_s']:.1f} | {r['inference_s']:.4f} | "
                         f"{r['preprocess_s']:.2f} | {early} | {steady} | {r['categories']} | {same} |")
    if args.note:
        lines += ["", args.note]
    with open(args.md_out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
