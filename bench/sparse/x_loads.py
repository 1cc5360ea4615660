#!/usr/bin/env python3
"""How much X the generated kernels load from L2, per layer of a `spdnn sparse bench` JSON.

Each row group of R rows loads, for every column of X, the distinct rows of X that its nonzeros need
(the union of its rows' column indices). Summed over the groups and multiplied by N x 4 bytes, plus the
4-byte stores of Y, and divided by the kernel's time, this is the L2 traffic the kernel sustained, if no
load hits L1. Usage: bench/sparse/x_loads.py RESULTS.json [DATA_DIR] [BATCH]
(DATA_DIR replaces the `.carry/data` prefix of the matrix paths recorded in the JSON; default ../shared/data).
"""
import gzip
import json
import sys


def read_smtx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        rows, cols, _ = (int(v) for v in f.readline().replace(",", " ").split())
        row_ptr = [int(v) for v in f.readline().split()]
        col_idx = [int(v) for v in f.readline().split()]
    return rows, cols, row_ptr, col_idx


def loads_per_column(rows, row_ptr, col_idx, group):
    return sum(len(set(col_idx[row_ptr[g]:row_ptr[min(rows, g + group)]])) for g in range(0, rows, group))


def main():
    results = json.load(open(sys.argv[1]))
    data = sys.argv[2] if len(sys.argv) > 2 else "../shared/data"
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    print("| layer (W: M x K), N | time, us | rows per group | X loads per column, 32 / 64 / 128 rows | loads and stores |")
    print("|---|---|---|---|---|")
    for case in results["cases"]:
        if case["batch"] != batch:
            continue
        rows, _, row_ptr, col_idx = read_smtx(case["matrix"].replace(".carry/data", data, 1))
        n, us = case["n"], case["timings"]["specialized"]["graph_us"]
        config = case["kernel"].get("config")
        group = config["rows"] if config else None
        loads = {r: loads_per_column(rows, row_ptr, col_idx, r) for r in (32, 64, 128)}
        rate = f"{((loads[group] + rows) * n * 4) / (us * 1e-6) / 1e12:.1f} TB/s" if group in loads else "-"
        print(f"| {case['name']}: {rows} x {case['cols']}, {n} | {us:.1f} | {group or 'generic'} | "
              f"{loads[32]:,} / {loads[64]:,} / {loads[128]:,} | {rate} |")


if __name__ == "__main__":
    main()
