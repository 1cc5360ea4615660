#!/usr/bin/env python3
"""The whole-model benchmark's report (e2e.py --json) as Markdown:

    summarize.py E2E.json RESULT.md [--commit HASH]

Per model and batch: milliseconds per call (CUDA-graph replay) of the sparsified model and of dense
PyTorch in fp32 (TF32 off), TF32 and fp16 channels-last, the speedups, the logits' error, what was
replaced; then, per case, the replaced layers' times (dense fp32 vs spdnn) and the slowest layers."""
import argparse
import json
import pathlib


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("report", type=pathlib.Path)
    ap.add_argument("md", type=pathlib.Path)
    ap.add_argument("--commit", default="")
    a = ap.parse_args()
    r = json.loads(a.report.read_text())
    out = [f"spdnn {r['spdnn_version']}{' at ' + a.commit if a.commit else ''}, PyTorch {r['torch']}, {r['gpu']}.",
           f"Command (device): `{r['command']}`", ""]
    out += [f"- {n}" for n in r.get("notes", [])]
    out += ["", "| model | batch | spdnn ms | fp32 ms | TF32 ms | fp16 ms | vs fp32 | vs TF32 | vs fp16 | "
            "error vs fp32 | error vs fp64 | replaced | BatchNorms folded |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in r["cases"]:
        ms, sp = c["ms"], c["speedup"]
        out.append(f"| {c['model']} | {c['batch']} | {ms['spdnn']:.3f} | {ms['fp32']:.3f} | {ms['tf32']:.3f} | {ms['fp16']:.3f} "
                   f"| {sp['fp32']:.2f}x | {sp['tf32']:.2f}x | {sp['fp16']:.2f}x | {c['error_vs_fp32']:.1e} "
                   f"| {c['error_vs_fp64']:.1e} | {len(c['replaced'])} layers | {c['folded_batchnorms']} |")
    how = ("each module alone as a CUDA graph on the input it saw" if r.get("layer_times") == "graph"
           else "eager, CUDA events around each module, launches included")
    out += ["", f"Per-layer times ({how}; ms per call): the replaced layers in all, dense fp32 (BatchNorm",
            "folded) vs spdnn, the layers kept in PyTorch, and the five slowest.", "",
            "| model | batch | replaced: dense | replaced: spdnn | kept | slowest layers (ms) |", "|---|---|---|---|---|---|"]
    for c in r["cases"]:
        slow = sorted(c["layers"], key=lambda l: -(l["spdnn_ms"] or 0))[:5]
        names = ", ".join(f"{l['name']}{'*' if l['replaced'] else ''} {l['spdnn_ms']:.3f}" for l in slow)
        rl = c["replaced_layers_ms"]
        out.append(f"| {c['model']} | {c['batch']} | {rl['dense_fp32']:.3f} | {rl['spdnn']:.3f} | {c['kept_layers_ms']:.3f} | {names} |")
    out += ["", "(* replaced by an spdnn kernel)"]
    a.md.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
