"""deploy/: what can be tested without Docker or a cluster — the manifests parse with the fields KServe needs,
every command they run is one our CLI accepts, and the image's install script, run in a fresh venv, gives a
TensorFlow-free board install with the service."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _parses(argv: list[str]) -> None:
    from edgelite.cli import build_parser

    assert argv[0] == "serve", argv
    args = build_parser().parse_args(argv)
    assert args.command == "serve"


def test_kserve_manifests_have_what_kserve_requires():
    import yaml

    runtime = yaml.safe_load((DEPLOY / "kserve" / "servingruntime.yaml").read_text())
    assert runtime["apiVersion"] == "serving.kserve.io/v1alpha1" and runtime["kind"] == "ServingRuntime"
    spec = runtime["spec"]
    assert spec["protocolVersions"] == ["v2"]
    assert {"name": "tflite", "version": "1", "autoSelect": True} in spec["supportedModelFormats"]
    (container,) = spec["containers"]
    assert container["name"] == "kserve-container" and container["image"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    port = container["ports"][0]["containerPort"]
    args = [a.replace("{{.Name}}", "mnist") for a in container["args"]]
    _parses(args)
    assert args[args.index("--port") + 1] == str(port) and args[1] == "/mnt/models"

    isvc = yaml.safe_load((DEPLOY / "kserve" / "inferenceservice.yaml").read_text())
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["kind"] == "InferenceService"
    model = isvc["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"] and model["modelFormat"]["name"] == "tflite"
    assert model["protocolVersion"] == "v2" and model["storageUri"]


def test_dockerfile_and_systemd_unit_run_valid_commands():
    docker = (DEPLOY / "Dockerfile").read_text()
    entry = re.search(r'^ENTRYPOINT (\[.*\])$', docker, re.M)
    assert entry is not None
    import json

    argv = json.loads(entry.group(1))
    assert argv[0] == "edgelite"
    _parses(argv[1:])
    assert re.search(r"^USER 10001$", docker, re.M) and "/v2/health/ready" in docker
    assert "install-board.sh" in docker and "HEALTHCHECK" in docker
    unit = (DEPLOY / "edgelite-serve.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert exec_start is not None
    argv = shlex.split(exec_start.group(1))
    assert argv[0].endswith("/edgelite")
    _parses(argv[1:])
    assert re.search(r"^User=edgelite$", unit, re.M) and re.search(r"^KillSignal=SIGTERM$", unit, re.M)


@pytest.mark.slow
def test_install_script_gives_a_tensorflow_free_service(tmp_path):
    """The image's install step in a fresh venv (packages from the registry): serve works, TensorFlow absent."""
    source = tmp_path / "src"   # a copy: pip builds in the source folder, and the checkout stays untouched
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("edgelite", "runtime", "calibration", "converter"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    proc = subprocess.run(["sh", str(DEPLOY / "install-board.sh"), str(source)], env={"PYTHON": str(python),
                          "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check = subprocess.run([str(python), "-c", "import edgelite.serve.app, importlib.util as u; "
                            "print(u.find_spec('tensorflow') is None, u.find_spec('keras') is None)"],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)   # not the checkout
    assert check.stdout.split() == ["True", "True"], check.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    size_mb = sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / 1e6
    print(f"board install with the serve extra: {size_mb:.1f} MB in site-packages")
    assert size_mb < 250, size_mb   # measured 2026-11-29: see README (ai-edge-litert is most of it)
