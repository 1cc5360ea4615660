#!/usr/bin/env python3
"""spdnn beside the peers, from one peers-kit call made with SPDNN=bench/challenge/spdnn_mode.sh and
SPDNN_MODE=both (general and structure mode) or SPDNN_MODE=also (further runs by tag: an earlier build,
a forced kernel, per-layer times) (../shared/peers/README.md):

    summarize_peers_structure.py OUT_DIR RESULT.json RESULT.md --command "..." [--also TAG ...]

OUT_DIR holds the kit's summary.json and results.tgz. Per network: the better of the repetitions of spdnn
(the kit's figure), of each further run (TAG-*.json; default: structure), of HPEC'20 and of XY-2021 (wall
and events), TeraEdges/s; spdnn over the best peer's wall figure and over XY's events; each further run over
the best peer's wall figure and over spdnn, and its inference time; structure mode's discovery time; whether
every run's category set equals spdnn's first; and, where a `layers` run (--layer-times) is there, the
device time of the first layer, of the first ten and of all layers, and how many layers ran."""
import argparse
import json
import pathlib
import re
import tarfile


def best(values):
    values = [v for v in values if v]
    return max(values) if values else None


def ratio(x, y):
    return x / y if x and y else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=pathlib.Path)
    ap.add_argument("result_json", type=pathlib.Path)
    ap.add_argument("result_md", type=pathlib.Path)
    ap.add_argument("--command", required=True)
    ap.add_argument("--also", nargs="*", default=["structure"])
    a = ap.parse_args()
    kit = json.loads((a.out / "summary.json").read_text())
    files = {}
    with tarfile.open(a.out / "results.tgz") as tar:
        for m in tar.getmembers():
            name = pathlib.Path(m.name).name
            if m.isfile() and re.match(r"[a-z0-9_]+-\d+x\d+-r\d+\.(json|cats)$", name):
                files[name] = tar.extractfile(m).read().decode()
    rows = []
    for e in kit["networks"]:
        net, b = e["network"], e["best"]
        reports = lambda tag: [json.loads(files[f"{tag}-{net}-r{r}.json"]) for r in range(8) if f"{tag}-{net}-r{r}.json" in files]
        first_cats = files.get(f"spdnn-{net}-r0.cats")
        same = [files.get(f"{tag}-{net}-r{r}.cats") == first_cats for tag in ["spdnn", *a.also] for r in range(8)
                if f"{tag}-{net}-r{r}.cats" in files]
        peer = best([b["hpec20"], b["xy2021_wall"]])
        g = best([j["teraedges_per_s"] for j in reports("spdnn")])
        row = {"network": net, "spdnn": g, "hpec20": b["hpec20"], "xy2021_wall": b["xy2021_wall"],
               "xy2021_event": b["xy2021_event"], "spdnn_over_best_peer_wall": ratio(g, peer),
               "spdnn_over_xy_event": ratio(g, b["xy2021_event"])}
        for tag in a.also:
            t = best([j["teraedges_per_s"] for j in reports(tag)])
            row |= {f"spdnn_{tag}": t, f"{tag}_over_best_peer_wall": ratio(t, peer), f"{tag}_over_spdnn": ratio(t, g)}
        discovery = [j.get("structure", {}).get("discovery_s") for j in reports("structure")]
        row["discovery_s"] = min([d for d in discovery if d is not None], default=None)
        for tag in a.also:  # inference alone (the figure's denominator), ms
            row[f"{tag}_inference_ms"] = min([1e3 * j["timing_s"]["inference"] for j in reports(tag)], default=None)
        if reports("layers"):
            seconds = [x.get("seconds") or 0.0 for x in reports("layers")[0]["layers"]]
            row["layer_1_ms"], row["layers_1_10_ms"], row["layers_all_ms"] = 1e3 * seconds[0], 1e3 * sum(seconds[:10]), 1e3 * sum(seconds)
            row["layers_run"] = sum(1 for x in seconds if x > 0)  # a batch stops once no row is left
        row["sets_equal"] = bool(same) and all(same) and e["all_sets_equal"]
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
    columns = [("spdnn", "spdnn", 1)] + [(f"spdnn_{t}", f"spdnn {t}", 1) for t in a.also] + [
        ("hpec20", "HPEC'20", 1), ("xy2021_wall", "XY wall", 1), ("xy2021_event", "XY event", 1),
        ("spdnn_over_best_peer_wall", "spdnn / best peer", 2), ("spdnn_over_xy_event", "spdnn / XY event", 2)]
    for t in a.also:
        columns += [(f"{t}_over_best_peer_wall", f"{t} / best peer", 2), (f"{t}_over_spdnn", f"{t} / spdnn", 2)]
    if any(r["discovery_s"] is not None for r in rows):
        columns.append(("discovery_s", "discovery s", 2))
    columns += [(f"{t}_inference_ms", f"{t} ms", 2) for t in a.also]
    if any("layers_all_ms" in r for r in rows):
        columns += [("layer_1_ms", "layer 1 ms", 2), ("layers_1_10_ms", "layers 1-10 ms", 1), ("layers_all_ms", "all layers ms", 1),
                    ("layers_run", "layers run", 0)]
    md = [f"GPU: {gpu}. {header['spdnn']}. Command: `{a.command}`", "",
          "| network | " + " | ".join(c[1] for c in columns) + " | sets equal |",
          "|---|" + "---|" * (len(columns) + 1)]
    for r in rows:
        md.append(f"| {r['network']} | " + " | ".join(f(r.get(k), d) for k, _, d in columns) +
                  f" | {'yes' if r['sets_equal'] else 'NO'} |")
    a.result_md.write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
