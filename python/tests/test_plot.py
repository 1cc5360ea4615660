"""Plots from reports: a run's layers (from Result.report()) and a benchmark's cases (a committed file)."""

import json

import pytest

import spdnn
from spdnn import plot

from conftest import REPO

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def test_a_run_report_plots_its_layers(tmp_path):
    net = spdnn.Network.generate(neurons=1024, layers=12)
    r = spdnn.run(net, spdnn.Inputs.generate(neurons=1024, count=200, mnist=""), engine="cpu", mode="structure")
    report = tmp_path / "run.json"
    report.write_text(json.dumps(r.report()))
    assert plot.main([str(report), "-o", str(tmp_path / "run.png")]) == 0
    assert (tmp_path / "run.png").read_bytes()[:8] == PNG


def test_a_benchmark_plots_its_cases(tmp_path):
    out = tmp_path / "cases.png"
    assert plot.plot_report(REPO / "bench/results/structure_cpu2core.json", out) == "cases"
    assert out.read_bytes()[:8] == PNG


def test_a_side_by_side_plots_spdnn_beside_the_peers(tmp_path):
    out = tmp_path / "peers.png"
    assert plot.plot_report(REPO / "bench/results/structure_peers_wide_h100.json", out) == "peers"
    assert out.read_bytes()[:8] == PNG


def test_every_form_of_side_by_side_gives_spdnn_and_the_peers(tmp_path):
    # calls with their networks (general_peers_*.json), spdnn's general figure as "spdnn"
    calls = json.loads((REPO / "bench/results/general_peers_staged_h100.json").read_text())
    rows, gpu, commit = plot.peer_rows(calls)
    want = {n["network"]: n for c in calls["calls"] for n in c["networks"]}
    assert [r["network"] for r in rows] == list(want) and gpu.startswith("NVIDIA") and commit
    assert all(r["spdnn_general"] == want[r["network"]]["spdnn"] and r["xy2021_wall"] > 0 for r in rows)
    # the peers kit's own summary.json: each engine's best of its repetitions
    kit = {"environment": ["name, memory", "NVIDIA H100 80GB HBM3, 81559 MiB", "spdnn commit: abc1234"],
           "networks": [{"network": "1024x120", "spdnn": [{"teraedges_per_s": 50.0}],
                         "best": {"spdnn": 51.0, "hpec20": 23.7, "xy2021_wall": 17.9, "xy2021_event": 42.4}}]}
    assert plot.peer_rows(kit) == ([{"network": "1024x120", "spdnn_general": 51.0, "hpec20": 23.7, "xy2021_wall": 17.9,
                                     "xy2021_event": 42.4}], "NVIDIA H100 80GB HBM3, 81559 MiB", "abc1234")
    for name, report in (("calls", calls), ("kit", kit)):
        out = tmp_path / f"{name}.png"
        assert plot.plot_report(report, out) == "peers"
        assert out.read_bytes()[:8] == PNG


def test_a_kernel_benchmark_plots_speedups_over_its_baselines(tmp_path):
    out = tmp_path / "linear.png"
    assert plot.plot_report(REPO / "bench/results/sparse_rn50_0.9_b1_h200.json", out) == "kernel speedups"
    assert out.read_bytes()[:8] == PNG
    conv = {"device": "GPU", "cases": [
        {"set": "dlmc", "sparsity": "0.9", "batch": b, "timings": {
            "specialized": {"graph_us": 2.0}, "cudnn_fp32": {"graph_us": 12.0}, "cudnn_fp16": {"error": "no cuDNN"},
            "im2col": {"graph_us": 5.0}}} for b in (1, 8)]}
    assert plot.plot_report(conv, tmp_path / "conv.png") == "kernel speedups"
    assert (tmp_path / "conv.png").read_bytes()[:8] == PNG


def test_a_model_benchmark_plots_per_layer_speedups(tmp_path):
    layers = [{"name": "layer1.0.conv1", "replaced": True, "dense_ms": 0.05, "spdnn_ms": 0.02},
              {"name": "layer1.0.conv2", "replaced": False, "dense_ms": 0.08, "spdnn_ms": 0.08},
              {"name": "fc", "replaced": True, "dense_ms": 0.01, "spdnn_ms": 0.02}]
    report = {"cases": [{"model": "ResNet-50 90%", "batch": b, "speedup": {"fp32": 1.3}, "layers": layers} for b in (1, 8)]}
    out = tmp_path / "model.png"
    assert plot.plot_report(report, out) == "model layers"
    assert out.read_bytes()[:8] == PNG


def test_not_a_report_is_an_error(tmp_path, capsys):
    (tmp_path / "x.json").write_text("{}")
    assert plot.main([str(tmp_path / "x.json")]) == 2
    assert "neither 'layers'" in capsys.readouterr().err
