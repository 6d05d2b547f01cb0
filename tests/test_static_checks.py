"""The layer contracts can fail: a board-side module that imports the converter, or TensorFlow, breaks them.
(`make lint` runs the same script on the real tree; here it runs on a copy with one import added.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "static_checks.py"


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "checkout"
    for folder in ("edgelite", "runtime", "calibration", "converter"):
        shutil.copytree(ROOT / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy2(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _layers(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), "--only", "layers", "--source", str(tree)],
                          capture_output=True, text=True, timeout=300)


def test_the_real_tree_keeps_its_layers(tmp_path):
    proc = _layers(_copy(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("runtime/bench.py", "import edgelite.converter.convert", "edgelite.runtime is not allowed to import "
                                                              "edgelite.converter"),
    ("calibration/sources.py", "import tensorflow", "edgelite.calibration is not allowed to import tensorflow"),
    ("edgelite/core/stats.py", "from edgelite.check import gate", "edgelite.core is not allowed to import "
                                                                  "edgelite.check"),
])
def test_an_upward_import_breaks_a_contract(tmp_path, module, line, broken):
    tree = _copy(tmp_path)
    path = tree / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # added by the test\n", encoding="utf-8")
    proc = _layers(tree)
    assert proc.returncode == 1
    assert broken in " ".join(proc.stdout.split()), proc.stdout
