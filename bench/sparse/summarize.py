#!/usr/bin/env python3
"""Summarizes `spdnn sparse bench` or `spdnn sparse conv bench` JSON: geometric-mean microseconds per path
for each (set, sparsity, batch), in CUDA-graph and back-to-back timing, and the specialized kernels'
speedups over each baseline.
Usage: summarize.py RESULT.json [more.json ...] > table.md"""
import json
import math
import sys
from collections import defaultdict

LINEAR = (["specialized", "generic", "cublas_fp32", "cublas_tf32", "cublas_fp16", "cusparse"],
          [("cublas_fp32", "fp32 SGEMM"), ("cusparse", "cuSPARSE"), ("cublas_tf32", "TF32"), ("cublas_fp16", "fp16 TC")])
CONV = (["specialized", "generic", "im2col", "cudnn_fp32", "cudnn_tf32", "cudnn_fp16"],
        [("cudnn_fp32", "strict fp32 cuDNN"), ("cudnn_tf32", "TF32"), ("cudnn_fp16", "fp16 TC"), ("im2col", "im2col")])


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    groups = defaultdict(list)
    device = ""
    conv = False
    runs = []  # (version, commit, command) of each file, for the header
    for name in sys.argv[1:]:
        data = json.load(open(name))
        device = data.get("device") or data.get("gpu") or device  # "gpu" in files before 0.5
        runs.append((data.get("spdnn_version", "?"), data.get("commit", "?"), data.get("command", "?")))
        for case in data["cases"]:
            conv = conv or "shape" in case
            groups[(case.get("set", ""), case["sparsity"], case.get("batch", f"N={case.get('n')}"))].append(case)
    paths, baselines = CONV if conv else LINEAR
    # Only the paths some case timed (a run may leave some out: --paths).
    timed = {p for cs in groups.values() for c in cs for p in c["timings"]}
    paths = [p for p in paths if p in timed]
    baselines = [(b, label) for b, label in baselines if b in timed]
    for version, commit, command in runs:
        print(f"spdnn {version}, commit {commit}: `{command}`  ")
    print(f"Device: {device}. Geometric means in microseconds per call; specialized = spdnn's generated kernel "
          "(the generic CSR kernel where the matrix exceeds the unroll limit or tuning timed it faster).\n")
    for timing in ("graph_us", "plain_us"):
        label = "CUDA graph of 200 calls" if timing == "graph_us" else "back-to-back calls"
        print(f"### {label}\n")
        print("| set / sparsity / batch | layers (specialized) | " + " | ".join(paths) + " | " +
              " | ".join(f"speedup vs {label}" for _, label in baselines) + " |")
        print("|" + "---|" * (len(paths) + 2 + len(baselines)))
        for key in sorted(groups, key=lambda k: (k[0], float(k[1]), str(k[2]))):
            cases = groups[key]
            means = {}
            for p in paths:
                values = [c["timings"][p][timing] for c in cases if p in c["timings"] and timing in c["timings"][p]]
                means[p] = geomean(values) if len(values) == len(cases) else float("nan")
            specialized = sum(1 for c in cases if c.get("kernel", {}).get("path") == "specialized")
            s = means["specialized"]
            row = [" / ".join(str(k) for k in key if k != ""), f"{len(cases)} ({specialized})"]
            row += [f"{means[p]:.1f}" for p in paths] + [f"{means[b] / s:.2f}x" for b, _ in baselines]
            print("| " + " | ".join(row) + " |")
        print()
    worst = max(((c["timings"]["specialized"]["max_rel_error"], c["name"], c.get("n", c.get("batch")))
                 for cs in groups.values() for c in cs
                 if "specialized" in c["timings"] and "max_rel_error" in c["timings"]["specialized"]), default=None)
    if worst:
        print(f"Largest relative error of the specialized path against float64: {worst[0]:.2e} ({worst[1]}, "
              f"{'batch' if conv else 'N'}={worst[2]}).")


if __name__ == "__main__":
    main()
