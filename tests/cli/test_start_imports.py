"""What a board command imports: the cold-start figures of benchmarks/cold_start.py rest on these staying out
(the generated schema module alone was 0.36 s; tqdm 45 ms; dataclass-built metadata tables 28 ms)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("ai_edge_litert.schema_py_generated", "tensorflow", "tqdm", "edgelite.converter", "edgelite.runtime.bench",
         "edgelite.check", "edgelite.html", "edgelite.calibration.sources", "edgelite.calibration.sampling",
         "edgelite.runtime.tasks", "edgelite.runtime.decoders")   # a classifier's run decodes nothing

RUN = """
import json, sys
from edgelite.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules(*argv: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True, timeout=120)
    last = proc.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert result["code"] == 0, proc.stderr
    return set(result["modules"])


def test_run_with_a_warm_probe_cache_imports_nothing_heavy(example_models, example, tmp_path):
    image = next((example / "eval" / "7").iterdir())
    _modules("run", str(example_models["int8"]), str(image))  # probes and records the file
    loaded = _modules("run", str(example_models["int8"]), str(image))
    assert not [m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert "ai_edge_litert.interpreter" in loaded and "edgelite.runtime.metadata_schema" in loaded  # it ran


def test_import_edgelite_runtime_is_light():
    code = "import sys, json, edgelite.runtime; print(json.dumps(sorted(sys.modules)))"
    loaded = set(json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                           timeout=60, check=True).stdout))
    assert not {"edgelite.runtime.model", "edgelite.runtime.bench", "PIL", "ai_edge_litert", "tqdm"} & loaded
    assert "edgelite.runtime.compare" not in loaded  # lazy too (issue 25): `run` does not need it


def test_compare_names_the_function_whether_the_submodule_was_imported_or_not():
    code = ("import edgelite.runtime.compare as a; from edgelite.runtime.compare import compare_on; "
            "import edgelite.runtime as r; from edgelite.runtime import compare, CompareReport; "
            "print(callable(a) and a is r.compare is compare and compare_on.__module__ == 'edgelite.runtime.compare'"
            " and CompareReport.__name__ == 'CompareReport')")
    for first in ("", "import edgelite.runtime; "):
        out = subprocess.run([sys.executable, "-c", first + code], capture_output=True, text=True, timeout=60,
                             check=True).stdout
        assert out.strip() == "True"
