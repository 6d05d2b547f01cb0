"""The CLI contract: commands, flags and JSON keys that later tooling depends on."""

import json
import subprocess
import sys

import pytest


def _get(d, dotted):
    for part in dotted.split("."):
        d = d[part]
    return d


@pytest.mark.slow
def test_convert_json_report(run_cli, example, tmp_path):
    out, rep = tmp_path / "m.tflite", tmp_path / "convert.json"
    code, stdout, _ = run_cli("convert", example / "model.keras", "-o", out, "--calib", example / "calib",
                              "--samples", "30", "--seed", "3", "--labels", example / "labels.txt", "--json", rep)
    assert code == 0 and "int8 / int8" in stdout and "30 samples" in stdout
    r = json.loads(rep.read_text())
    assert r["kind"] == "convert" and r["schema_version"] == 5 and r["target"] == "litert" and r["gpu"] is None
    assert "ranges" not in r and "bias_correction" not in r   # schema 4 keys appear only when those options ran
    assert r["calibration"]["used"] == 30 and r["calibration"]["seed"] == 3
    assert r["size_bytes"] == out.stat().st_size and r["labels_count"] == 10 and r["float_ops"] == []


def test_compare_json_has_the_contract_keys(run_cli, example, example_models, tmp_path):
    rep = tmp_path / "compare.json"
    code, stdout, _ = run_cli("compare", example_models["float32"], example_models["int8"],
                              "--data", example / "eval", "--samples", "100", "--json", rep)
    assert code == 0 and "top-1" in stdout and "agreement" in stdout
    r = json.loads(rep.read_text())
    for key in ("reference.top1", "candidate.top1", "top1_drop_pts", "agreement", "cosine_mean", "snr_db",
                "reference.latency_ms.median", "candidate.latency_ms.median", "reference.latency_ms.p90",
                "reference.size_bytes", "candidate.size_bytes", "samples", "reference.top5", "max_abs_error",
                "reference.backend", "device.cpu_model"):
        _get(r, key)
    assert r["samples"] == 100
    assert r["candidate"]["size_bytes"] == example_models["int8"].stat().st_size


@pytest.mark.slow
def test_compare_with_keras_reference(run_cli, example, example_models, tmp_path):
    rep = tmp_path / "compare.json"
    code, _, _ = run_cli("compare", example / "model.keras", example_models["int8"], "--data", example / "eval",
                         "--samples", "60", "--json", rep)
    r = json.loads(rep.read_text())
    assert code == 0 and r["reference"]["kind"] == "keras" and r["reference"]["backend"] == "tensorflow"
    assert r["agreement"] >= 0.98


def test_compare_unlabelled_data(run_cli, example, example_models, tmp_path):
    rep = tmp_path / "c.json"
    code, stdout, _ = run_cli("compare", example_models["float32"], example_models["int8"], "--data",
                              example / "calib", "--samples", "50", "--json", rep)
    r = json.loads(rep.read_text())
    assert code == 0 and r["labelled"] is False and r["reference"]["top1"] is None and "unlabelled" in stdout


def test_bench_json(run_cli, example_models, tmp_path):
    rep = tmp_path / "bench.json"
    code, stdout, _ = run_cli("bench", example_models["int8"], "--threads", "1,2", "--runs", "30",
                              "--warmup", "2", "--json", rep)
    r = json.loads(rep.read_text())
    assert code == 0 and "threads" in stdout
    assert [x["threads"] for x in r["results"]] == [1, 2]
    for x in r["results"]:
        assert set(x["latency_ms"]) >= {"min", "median", "mean", "p90", "p99"} and x["runs"] == 30
        assert x["init_ms"] > 0
    assert r["backend"] == "litert" and r["backend_version"]
    assert set(r["device"]) >= {"cpu_model", "cores", "arch", "simd"}


def test_bench_without_xnnpack(run_cli, example_models, tmp_path):
    rep = tmp_path / "bench.json"
    assert run_cli("bench", example_models["int8"], "--no-xnnpack", "--runs", "5", "--json", rep)[0] == 0
    assert json.loads(rep.read_text())["results"][0]["xnnpack"] is False


def test_run_json_and_table(run_cli, example, example_models):
    images = sorted((example / "eval" / "9").glob("*.png"))[:2]
    code, stdout, _ = run_cli("run", example_models["int8"], *images, "--top-k", "2", "--json")
    r = json.loads(stdout)
    assert code == 0 and len(r["results"]) == 2
    assert all(len(x["top_k"]) == 2 for x in r["results"])
    assert r["results"][0]["top_k"][0]["label"] in [str(i) for i in range(10)]
    code, stdout, _ = run_cli("run", example_models["int8"], images[0])
    assert code == 0 and images[0].name in stdout


def test_run_npy_batch(run_cli, example_models, tmp_path):
    batch = tmp_path / "batch.npy"
    np_ = __import__("numpy")
    np_.save(batch, np_.zeros((3, 28, 28), np_.uint8))
    code, stdout, _ = run_cli("run", example_models["int8"], batch, "--json")
    assert code == 0 and [x["input"] for x in json.loads(stdout)["results"]] == [f"{batch}[{i}]" for i in range(3)]


def test_inspect(run_cli, example_models):
    code, stdout, _ = run_cli("inspect", example_models["int8"], "--json")
    info = json.loads(stdout)
    assert code == 0 and info["quantized"] is True and info["float_ops"] == []
    assert info["inputs"][0]["dtype"] == "int8" and len(info["labels"]) == 10
    assert info["metadata"]["provenance"]["mode"] == "int8"
    code, stdout, _ = run_cli("inspect", example_models["float32"])
    assert code == 0 and "no (float activations)" in stdout


def test_python_dash_m_and_version():
    proc = subprocess.run([sys.executable, "-m", "edgelite", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("edgelite ")
    proc = subprocess.run([sys.executable, "-m", "edgelite", "bench"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "required" in proc.stderr


def test_installed_layout_maps_top_level_folders():
    """The install maps edgelite.runtime/calibration/converter to the top-level folders, and only those: no
    ``__path__`` widening, so a stray folder of the checkout (tests/, scripts/) is not an edgelite module."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import importlib.util as u\n"
            "for m in ('edgelite.runtime', 'edgelite.calibration', 'edgelite.converter', 'edgelite.core'):\n"
            "    print(u.find_spec(m).origin)\n"
            "print(u.find_spec('edgelite.tests'), u.find_spec('edgelite.scripts'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root / "tests", capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    *origins, strays = proc.stdout.strip().splitlines()
    assert [Path(o) for o in origins] == [root / "runtime" / "__init__.py", root / "calibration" / "__init__.py",
                                          root / "converter" / "__init__.py",
                                          root / "edgelite" / "core" / "__init__.py"]
    assert strays == "None None"
