"""The board install never needs TensorFlow: runtime/, calibration/ and the board-side CLI run with it blocked."""

import json
import pkgutil
import subprocess
import sys
import textwrap

import edgelite.calibration
import edgelite.check
import edgelite.html
import edgelite.runtime
import edgelite.serve

BLOCK = textwrap.dedent("""
    import sys
    for name in ("tensorflow", "tf_keras", "keras", "tensorflow_model_optimization"):
        sys.modules[name] = None  # any import of these now raises ImportError
""")


def _modules(pkg) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)


def test_every_runtime_and_calibration_module_imports_without_tensorflow():
    # check/ and html/ sit above runtime and calibration and must run on a board too (ready .tflite files)
    names = (_modules(edgelite.runtime) + _modules(edgelite.calibration) + _modules(edgelite.check)
             + _modules(edgelite.html) + _modules(edgelite.serve) + ["edgelite.runtime.compare"])
    assert "edgelite.runtime.model" in names and "edgelite.calibration.sources" in names
    assert "edgelite.serve.app" in names   # the inference service runs on the board too
    assert "edgelite.check.run" in names and "edgelite.html.pages" in names
    proc = _run(f"""
        import importlib
        for name in {names!r}:
            importlib.import_module(name)
        import edgelite.cli, edgelite.cli.commands
        loaded = [m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tf_keras", "keras")
                  and sys.modules[m] is not None]
        assert not loaded, loaded
        print("ok", len({names!r}))
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok")


def test_blocking_really_blocks():
    proc = _run("import tensorflow")
    assert proc.returncode != 0 and "import of tensorflow halted" in proc.stderr


def test_board_cli_commands_without_tensorflow(example_models, example, tmp_path):
    int8, f32 = example_models["int8"], example_models["float32"]
    image = sorted((example / "eval" / "4").glob("*.png"))[0]
    out = tmp_path / "compare.json"
    bench = tmp_path / "bench.json"
    proc = _run(f"""
        from edgelite.cli import main
        codes = [
            main(["run", {str(int8)!r}, {str(image)!r}, "--json"]),
            main(["inspect", {str(int8)!r}]),
            main(["bench", {str(int8)!r}, "--runs", "5", "--warmup", "1", "--json", {str(bench)!r}]),
            main(["compare", {str(f32)!r}, {str(int8)!r}, "--data", {str(example / "eval")!r},
                  "--samples", "40", "--json", {str(out)!r}]),
        ]
        print("codes", codes)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "codes [0, 0, 0, 0]" in proc.stdout, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["samples"] == 40 and report["candidate"]["backend"] == "litert"
    assert json.loads(bench.read_text())["results"][0]["runs"] == 5


def test_keras_reference_without_tensorflow_names_the_extra(example_models, example):
    proc = _run(f"""
        from edgelite.cli import main
        code = main(["compare", {str(example / "model.keras")!r}, {str(example_models["int8"])!r},
                     "--data", {str(example / "eval")!r}])
        print("code", code)
    """)
    assert "code 2" in proc.stdout
    assert "pip install 'edgelite[convert]'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_convert_without_tensorflow_names_the_extra(example, tmp_path):
    proc = _run(f"""
        from edgelite.cli import main
        code = main(["convert", {str(example / "model.keras")!r}, "-o", {str(tmp_path / "m.tflite")!r},
                     "--calib", {str(example / "calib")!r}])
        print("code", code)
    """)
    assert "code 2" in proc.stdout, proc.stdout + proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "pip install 'edgelite[convert]'" in proc.stderr
    assert not (tmp_path / "m.tflite").exists()
