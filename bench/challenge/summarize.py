#!/usr/bin/env python3
"""Collects the per-network JSON reports of challenge_bench.sh into one table (JSON + markdown)."""
import json
import pathlib
import sys

# The HPEC 2020 code measured on our H100 (TeraEdges/s), from the CUDA-engine issue; 65536 x 1920 did
# not fit host memory there and takes the 480-layer figure.
BASELINE = {(1024, 120): 22.5, (1024, 480): 27.2, (1024, 1920): 27.6, (4096, 120): 20.9, (4096, 480): 27.2,
            (4096, 1920): 29.2, (16384, 120): 17.1, (16384, 480): 21.0, (16384, 1920): 22.3,
            (65536, 120): 10.7, (65536, 480): 11.5, (65536, 1920): 11.5}

def main(out_dir, result_json, commit, command):
    out = pathlib.Path(out_dir)
    rows = []
    for f in sorted(out.glob("gpu-n*-l*.json"), key=lambda p: [int(x) for x in p.stem[5:].split("-l")]):
        r = json.loads(f.read_text())
        n, l = r["network"]["neurons"], r["network"]["layers"]
        ver = f.with_suffix(".verified")
        verdict, ref_layers = ver.read_text().split() if ver.exists() else ("unverified", None)
        base = BASELINE.get((n, l))
        rows.append({
            "neurons": n, "layers": l, "teraedges_per_s": r["teraedges_per_s"],
            "inference_s": r["timing_s"]["inference"], "preprocess_s": r["timing_s"]["preprocess"],
            "categories": r["categories"]["count"], "verified": verdict == "passed",
            "verified_against_cpu_layers": int(ref_layers) if ref_layers else None,
            "baseline_hpec2020_h100": base, "speedup_vs_baseline": r["teraedges_per_s"] / base if base else None,
            "execution": r.get("execution"), "device": r["device"],
        })
    device = rows[0]["device"] if rows else "?"
    doc = {"device": device, "commit": commit, "command": command, "mode": "plain (every active input computed at every layer)",
           "networks": rows}
    pathlib.Path(result_json).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"device: {device}\n")
    print("| N | L | TE/s | HPEC 2020 on H100 | x | categories | verified |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        sp = f"{r['speedup_vs_baseline']:.2f}" if r["speedup_vs_baseline"] else "-"
        print(f"| {r['neurons']} | {r['layers']} | {r['teraedges_per_s']:.1f} | {r['baseline_hpec2020_h100']} | {sp} | "
              f"{r['categories']} | {r['verified']} (cpu L={r['verified_against_cpu_layers']}) |")

if __name__ == "__main__":
    main(*sys.argv[1:5])
