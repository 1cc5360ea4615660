#!/usr/bin/env python3
"""Summarizes structure_bench.sh runs: per network and mode, the better of the repetitions (by inference
time), with the check that every mode gave the general mode's categories and per-layer counts. Prints
compact JSON (one line per case) with the provenance of the first report."""
import argparse
import collections
import json
import pathlib
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", type=pathlib.Path)
    ap.add_argument("--command", required=True)
    a = ap.parse_args()
    by_case = collections.defaultdict(lambda: collections.defaultdict(list))
    for f in sorted(a.runs.glob("*.json")):
        network, mode, _rep = f.stem.rsplit("-", 2)
        by_case[network][mode].append(json.loads(f.read_text()))
    if not by_case:
        sys.exit(f"no reports in {a.runs}")
    first = next(iter(next(iter(by_case.values())).values()))[0]
    cases = []
    for network, modes in by_case.items():
        general = modes["general"][0]
        counts = lambda j: [(x["active_inputs"], x["nnz"]) for x in j["layers"]]
        for mode, runs in modes.items():
            best = min(runs, key=lambda j: j["timing_s"]["inference"])
            s = best.get("structure", {})
            last = best["layers"][-1] if best["layers"] else {}
            cases.append({
                "network": network, "neurons": best["network"]["neurons"], "layers": best["network"]["layers"],
                "mode_asked": mode, "mode_ran": best["mode"], "teraedges_per_s": round(best["teraedges_per_s"], 4),
                "inference_s": round(best["timing_s"]["inference"], 4),
                "preprocess_s": round(best["timing_s"]["preprocess"], 4),
                "discovery_s": round(s.get("discovery_s", 0.0), 4), "row_grouping_s": round(s.get("row_grouping_s", 0.0), 4),
                "categories": best["categories"]["count"],
                "same_as_general": all(counts(r) == counts(general) and r["categories"] == general["categories"] for r in runs),
                "distinct_neurons_last": last.get("distinct_neurons"), "distinct_rows_last": last.get("distinct_rows"),
                "reason": s.get("reason", ""),
            })
    header = {k: first[k] for k in ("spdnn_version", "commit", "device", "date")}
    header["command"] = a.command
    header["engine"] = first["engine"]
    header["inputs"] = first["inputs"]["source"].split(" (")[0]  # "generated from MNIST", without its path
    lines = ["{"] + [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in header.items()]
    lines.append('  "cases": [')
    lines += [f"    {json.dumps(c, separators=(',', ':'))}{',' if i + 1 < len(cases) else ''}" for i, c in enumerate(cases)]
    lines += ["  ]", "}"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
