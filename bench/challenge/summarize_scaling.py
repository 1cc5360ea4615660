#!/usr/bin/env python3
"""Summarize bench/challenge/scaling_bench.sh output: one JSON (a list of runs) and a Markdown table.

Usage: summarize_scaling.py SCALING_DIR OUT.json COMMAND

Efficiency (TE/s on K GPUs / (K x TE/s on 1 GPU)) is computed only where the K parts ran on K distinct
GPUs; runs whose parts share a GPU check answers, not scaling, and have efficiency null.
"""
import glob
import json
import os
import re
import sys


def main():
    folder, out_path, command = sys.argv[1:4]
    runs = []
    single = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        m = re.match(r"n(\d+)-l(\d+)-(1gpu|([\d_]+)-(static|balanced))\.json$", os.path.basename(path))
        if not m:
            continue
        r = json.load(open(path))
        n, l = int(m.group(1)), int(m.group(2))
        devices = [0] if m.group(3) == "1gpu" else [int(d) for d in m.group(4).split("_")]
        run = {
            "device": r["device"],
            "gpus": r["gpus"],
            "devices": devices,
            "partition": r.get("partition", "none"),
            "network": {"neurons": n, "layers": l},
            "teraedges_per_s": r["teraedges_per_s"],
            "inference_s": r["timing_s"]["inference"],
            "categories": r["categories"]["count"],
            "rows_moved": r.get("rows_moved", 0),
            "imbalance": r.get("imbalance", 1.0),
            "per_gpu": r.get("per_gpu", []),
            "layers": r["layers"],
        }
        if m.group(3) == "1gpu":
            single[(n, l)] = run
        runs.append(run)
    for run in runs:
        key = (run["network"]["neurons"], run["network"]["layers"])
        one = single.get(key)
        distinct = len(set(run["devices"])) == len(run["devices"])
        run["same_answer_as_1gpu"] = one is not None and run["layers"] == one["layers"] and run["categories"] == one["categories"]
        run["efficiency"] = (run["teraedges_per_s"] / (run["gpus"] * one["teraedges_per_s"])
                             if one and distinct else None)
    for run in runs:
        del run["layers"]
    json.dump({"command": command, "runs": runs}, open(out_path, "w"), indent=1)

    print(f"Command: `{command}`\n")
    print("| N | L | GPUs (devices) | partition | TE/s | efficiency | survivors per GPU | rows moved | busy max/mean | same answer as 1 GPU |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in sorted(runs, key=lambda r: (r["network"]["neurons"], r["network"]["layers"], len(r["devices"]), r["partition"])):
        eff = f"{run['efficiency']:.2f}" if run["efficiency"] is not None else "-"
        surv = " / ".join(str(g["survivors"]) for g in run["per_gpu"]) or str(run["categories"])
        print(f"| {run['network']['neurons']} | {run['network']['layers']} | {run['gpus']} ({','.join(map(str, run['devices']))}) "
              f"| {run['partition']} | {run['teraedges_per_s']:.1f} | {eff} | {surv} | {run['rows_moved']} "
              f"| {run['imbalance']:.3f} | {'yes' if run['same_answer_as_1gpu'] else 'NO'} |")


if __name__ == "__main__":
    main()
