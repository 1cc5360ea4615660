#!/usr/bin/env python3
"""Summarizes `spdnn sparse bench` JSON: geometric-mean microseconds per path for each (sparsity, batch),
in CUDA-graph and back-to-back timing, and the specialized kernels' speedups over each baseline.
Usage: summarize.py RESULT.json [more.json ...] > table.md"""
import json
import math
import sys
from collections import defaultdict

PATHS = ["specialized", "generic", "cublas_fp32", "cublas_tf32", "cublas_fp16", "cusparse"]


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    groups = defaultdict(list)
    device = ""
    for name in sys.argv[1:]:
        data = json.load(open(name))
        device = data.get("device", device)
        for case in data["cases"]:
            groups[(case["sparsity"], case.get("batch", f"N={case['n']}"))].append(case)
    print(f"Device: {device}. Geometric means in microseconds per call; specialized = spdnn's generated kernel "
          "(the generic CSR kernel where the matrix exceeds the unroll limit or tuning timed it faster).\n")
    for timing in ("graph_us", "plain_us"):
        label = "CUDA graph of 200 calls" if timing == "graph_us" else "back-to-back calls"
        print(f"### {label}\n")
        print("| sparsity / batch | layers (specialized) | " + " | ".join(PATHS) +
              " | speedup vs fp32 SGEMM | vs cuSPARSE | vs TF32 | vs fp16 TC |")
        print("|" + "---|" * (len(PATHS) + 6))
        for key in sorted(groups, key=lambda k: (float(k[0]), str(k[1]))):
            cases = groups[key]
            means = {}
            for p in PATHS:
                values = [c["timings"][p][timing] for c in cases if p in c["timings"] and timing in c["timings"][p]]
                means[p] = geomean(values) if len(values) == len(cases) else float("nan")
            specialized = sum(1 for c in cases if c.get("kernel", {}).get("path") == "specialized")
            s = means["specialized"]
            row = [f"{key[0]} / {key[1]}", f"{len(cases)} ({specialized})"] + [f"{means[p]:.1f}" for p in PATHS]
            row += [f"{means[b] / s:.2f}x" for b in ("cublas_fp32", "cusparse", "cublas_tf32", "cublas_fp16")]
            print("| " + " | ".join(row) + " |")
        print()
    worst = max((c["timings"]["specialized"]["max_rel_error"], c["name"], c["n"]) for cs in groups.values() for c in cs
                if "specialized" in c["timings"] and "max_rel_error" in c["timings"]["specialized"])
    print(f"Largest relative error of the specialized path against float64: {worst[0]:.2e} ({worst[1]}, N={worst[2]}).")


if __name__ == "__main__":
    main()
