#!/usr/bin/env python3
"""Totals of an Nsight Compute CSV log (carried_sweep.sh NCU=...), kernel by kernel.

    summarize_ncu.py RUN-ncu.csv [...] [--json OUT.json] [--first 40]

With NCU=time (the metric gpu__time_duration.sum) each kernel's launches, summed time and share are listed,
the largest first, and the launch sequence's head, so that one layer's kernels can be read in order. With
sections (NCU="--section SpeedOfLight ..."), every metric of each kernel's first launch is listed instead.
"""
import argparse
import collections
import csv
import json
import sys

SCALE_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3, "second": 1e6}


def read(path):
    """Rows of ncu's --csv log (lines before the header, such as ==PROF== notes, are skipped)."""
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if len(r) > 10]
    if not rows or "Kernel Name" not in rows[0]:
        raise SystemExit(f"{path}: not an ncu --csv log (no 'Kernel Name' header): did ncu profile any kernel?")
    header = rows[0]
    return [dict(zip(header, r)) for r in rows[1:]]


def short(name):
    return name.replace("(anonymous namespace)::", "").replace("unnamed>::", "").split("(")[0]


def summarize(path, first):
    rows = read(path)
    durations = [r for r in rows if r["Metric Name"] in ("gpu__time_duration.sum", "Duration")]
    if durations:
        total, count, order = collections.defaultdict(float), collections.Counter(), []
        for r in durations:
            us = float(r["Metric Value"].replace(",", "")) * SCALE_US.get(r["Metric Unit"], 1.0)
            name = short(r["Kernel Name"])
            total[name] += us
            count[name] += 1
            order.append((name, round(us, 1)))
        whole = sum(total.values())
        print(f"{path}: {len(order)} launches, {whole:.1f} us in kernels")
        for name, us in sorted(total.items(), key=lambda kv: -kv[1]):
            print(f"  {us:10.1f} us {100 * us / whole:5.1f}% {count[name]:5d}x  {name}")
        print("  in order:", ", ".join(f"{n} {us}" for n, us in order[:first]))
        return {"launches": len(order), "kernel_us": round(whole, 1),
                "by_kernel": [{"kernel": n, "us": round(us, 1), "launches": count[n]}
                              for n, us in sorted(total.items(), key=lambda kv: -kv[1])],
                "order": order[:first]}
    first_id = {}
    for r in rows:
        first_id.setdefault(short(r["Kernel Name"]), r["ID"])
    out = {}
    for name, launch in first_id.items():
        metrics = {f'{r["Section Name"]}: {r["Metric Name"]} ({r["Metric Unit"]})': r["Metric Value"]
                   for r in rows if r["ID"] == launch}
        print(f"{path}: {name} (launch {launch})")
        for k, v in metrics.items():
            print(f"  {k}: {v}")
        out[name] = metrics
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--json", help="write the totals here")
    ap.add_argument("--first", type=int, default=40, help="launches listed in order")
    a = ap.parse_args()
    result = {path: summarize(path, a.first) for path in a.logs}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
