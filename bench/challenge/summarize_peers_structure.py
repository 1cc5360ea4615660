#!/usr/bin/env python3
"""spdnn's general and structure modes beside the peers, from one peers-kit call made with
SPDNN=bench/challenge/spdnn_mode.sh SPDNN_MODE=both (../shared/peers/README.md):

    summarize_peers_structure.py OUT_DIR RESULT.json RESULT.md --command "..."

OUT_DIR holds the kit's summary.json and results.tgz. Per network: the better of the repetitions of spdnn
general (the kit's figure), spdnn structure, HPEC'20 and XY-2021 (wall and events), TeraEdges/s; structure
over the best peer's wall figure and over general; discovery time; and whether structure mode's category
set equals general's (every repetition)."""
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
    a = ap.parse_args()
    kit = json.loads((a.out / "summary.json").read_text())
    files = {}
    with tarfile.open(a.out / "results.tgz") as tar:
        for m in tar.getmembers():
            name = pathlib.Path(m.name).name
            if m.isfile() and re.match(r"(spdnn|structure)-\d+x\d+-r\d+\.(json|cats)$", name):
                files[name] = tar.extractfile(m).read().decode()
    rows = []
    for e in kit["networks"]:
        net = e["network"]
        general, structure, same, discovery = [], [], [], []
        for r in range(8):
            g, s = files.get(f"spdnn-{net}-r{r}.json"), files.get(f"structure-{net}-r{r}.json")
            if g:
                general.append(json.loads(g)["teraedges_per_s"])
            if s:
                sj = json.loads(s)
                structure.append(sj["teraedges_per_s"])
                discovery.append(sj.get("structure", {}).get("discovery_s"))
                same.append(files.get(f"structure-{net}-r{r}.cats") == files.get(f"spdnn-{net}-r0.cats"))
        b = e["best"]
        peer = best([b["hpec20"], b["xy2021_wall"]])
        st = best(structure)
        rows.append({
            "network": net, "spdnn_general": best(general), "spdnn_structure": st,
            "hpec20": b["hpec20"], "xy2021_wall": b["xy2021_wall"], "xy2021_event": b["xy2021_event"],
            "structure_over_best_peer_wall": st / peer if st and peer else None,
            "structure_over_general": st / best(general) if st and best(general) else None,
            "discovery_s": min([d for d in discovery if d is not None], default=None),
            "structure_sets_equal_general": bool(same) and all(same),
            "kit_sets_equal": e["all_sets_equal"],
        })
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
    md = [f"GPU: {gpu}. {header['spdnn']}. Command: `{a.command}`", "",
          "| network | spdnn general | spdnn structure | HPEC'20 | XY wall | XY event | structure / best peer | "
          "structure / general | discovery s | sets equal |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ok = r["structure_sets_equal_general"] and r["kit_sets_equal"]
        md.append(f"| {r['network']} | {f(r['spdnn_general'])} | {f(r['spdnn_structure'])} | {f(r['hpec20'])} | "
                  f"{f(r['xy2021_wall'])} | {f(r['xy2021_event'])} | {f(r['structure_over_best_peer_wall'], 2)} | "
                  f"{f(r['structure_over_general'], 2)} | {f(r['discovery_s'], 2)} | {'yes' if ok else 'NO'} |")
    a.result_md.write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
