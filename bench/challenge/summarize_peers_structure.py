#!/usr/bin/env python3
"""spdnn beside the peers, from one peers-kit call made with SPDNN=bench/challenge/spdnn_mode.sh and
SPDNN_MODE=both (general and structure mode) or SPDNN_MODE=base (this build and an earlier one)
(../shared/peers/README.md):

    summarize_peers_structure.py OUT_DIR RESULT.json RESULT.md --command "..." [--second base]

OUT_DIR holds the kit's summary.json and results.tgz. Per network: the better of the repetitions of spdnn
(the kit's figure), the second spdnn run (structure mode, or the earlier build), HPEC'20 and XY-2021 (wall
and events), TeraEdges/s; the first over the best peer's wall figure and over XY's events, the second over
the best peer's wall figure and over the first; structure mode's discovery time; whether the second run's
category set equals the first's (every repetition); with --second base, from the --layer-times run, the
first ten layers' and all layers' device time."""
import argparse
import json
import pathlib
import re
import tarfile


def best(values):
    values = [v for v in values if v]
    return max(values) if values else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("result_json", type=pathlib.Path)
    ap.add_argument("result_md", type=pathlib.Path)
    ap.add_argument("--command", required=True)
    ap.add_argument("--second", choices=["structure", "base"], default="structure")
    a = ap.parse_args()
    kit = json.loads((a.out / "summary.json").read_text())
    files = {}
    with tarfile.open(a.out / "results.tgz") as tar:
        for m in tar.getmembers():
            name = pathlib.Path(m.name).name
            if m.isfile() and re.match(r"(spdnn|structure|base|layers)-\d+x\d+-r\d+\.(json|cats)$", name):
                files[name] = tar.extractfile(m).read().decode()
    rows = []
    for e in kit["networks"]:
        net = e["network"]
        general, structure, same, discovery = [], [], [], []
        for r in range(8):
            g, s = files.get(f"spdnn-{net}-r{r}.json"), files.get(f"{a.second}-{net}-r{r}.json")
            if g:
                general.append(json.loads(g)["teraedges_per_s"])
            if s:
                sj = json.loads(s)
                structure.append(sj["teraedges_per_s"])
                discovery.append(sj.get("structure", {}).get("discovery_s"))
                same.append(files.get(f"{a.second}-{net}-r{r}.cats") == files.get(f"spdnn-{net}-r0.cats"))
        b = e["best"]
        peer = best([b["hpec20"], b["xy2021_wall"]])
        st, g = best(structure), best(general)
        row = {
            "network": net, "spdnn": g, f"spdnn_{a.second}": st,
            "hpec20": b["hpec20"], "xy2021_wall": b["xy2021_wall"], "xy2021_event": b["xy2021_event"],
            "spdnn_over_best_peer_wall": g / peer if g and peer else None,
            "spdnn_over_xy_event": g / b["xy2021_event"] if g and b["xy2021_event"] else None,
            f"{a.second}_over_best_peer_wall": st / peer if st and peer else None,
            f"{a.second}_over_spdnn": st / g if st and g else None,
            "discovery_s": min([d for d in discovery if d is not None], default=None),
            f"{a.second}_sets_equal_spdnn": bool(same) and all(same),
            "kit_sets_equal": e["all_sets_equal"],
        }
        if files.get(f"layers-{net}-r0.json"):
            seconds = [x.get("seconds") or 0.0 for x in json.loads(files[f"layers-{net}-r0.json"])["layers"]]
            row["layers_1_10_ms"], row["layers_all_ms"] = 1e3 * sum(seconds[:10]), 1e3 * sum(seconds)
        rows.append(row)
    env = kit.get("environment", [])
    gpu = next((env[i + 1] for i, x in enumerate(env[:-1]) if x.startswith("name,")), "unknown")
    spdnn = next((x for x in env if x.startswith("spdnn:")), "")
    header = {"gpu": gpu, "command": a.command,
              "spdnn": re.sub(r"/\S*/", "", spdnn),  # the binary's name and version, without machine paths
              "commit": next((x for x in env if x.startswith("spdnn commit:")), "").replace("spdnn commit: ", "")}
    rounded = [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    body = ",\n".join(f"    {json.dumps(r, separators=(',', ':'))}" for r in rounded)
    a.result_json.write_text("{\n" + "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in header.items())
                             + '  "networks": [\n' + body + "\n  ]\n}\n")
    f = lambda x, d=1: "-" if x is None else f"{x:.{d}f}"
    second = a.second
    md = [f"GPU: {gpu}. {header['spdnn']}. Command: `{a.command}`", "",
          f"| network | spdnn | spdnn {second} | HPEC'20 | XY wall | XY event | spdnn / best peer | spdnn / XY event | "
          f"{second} / best peer | {second} / spdnn | discovery s | layers 1-10 ms | all layers ms | sets equal |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = r[f"{second}_sets_equal_spdnn"] and r["kit_sets_equal"]
        md.append(f"| {r['network']} | {f(r['spdnn'])} | {f(r[f'spdnn_{second}'])} | {f(r['hpec20'])} | "
                  f"{f(r['xy2021_wall'])} | {f(r['xy2021_event'])} | {f(r['spdnn_over_best_peer_wall'], 2)} | "
                  f"{f(r['spdnn_over_xy_event'], 2)} | {f(r[f'{second}_over_best_peer_wall'], 2)} | "
                  f"{f(r[f'{second}_over_spdnn'], 2)} | {f(r['discovery_s'], 2)} | {f(r.get('layers_1_10_ms'))} | "
                  f"{f(r.get('layers_all_ms'))} | {'yes' if ok else 'NO'} |")
    a.result_md.write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
