"""edgelite.toml / [tool.edgelite] validation: every mistake is one line naming the file and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from edgelite.check.config import find_config, load_config
from edgelite.core.errors import UserInputError


def _write(folder: Path, text: str, name: str = "edgelite.toml") -> Path:
    (folder / "m.tflite").write_bytes(b"placeholder")   # existence is all the config checks
    (folder / "ref.tflite").write_bytes(b"placeholder")
    (folder / "eval").mkdir(exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


GOOD = """
    baseline = "base.json"
    [budgets]
    max_top1_drop_pts = 1.0
    [latency]
    threads = 2
    [[models]]
    name = "a"
    tflite = "m.tflite"
    reference = "ref.tflite"
    eval = "eval"
    [models.budgets]
    max_size_bytes = 1000
    max_top1_drop_pts = 0.5
"""


def test_good_config_resolves_paths_and_merges_budget_defaults(tmp_path):
    cfg = load_config(_write(tmp_path, GOOD))
    (m,) = cfg.models
    assert m.tflite == tmp_path / "m.tflite" and m.eval == tmp_path / "eval"
    assert cfg.baseline == tmp_path / "base.json" and cfg.latency.threads == 2
    assert m.budgets.max_size_bytes == 1000 and m.budgets.max_top1_drop_pts == 0.5  # model overrides default
    assert dict(m.budgets.items()) == {"max_size_bytes": 1000, "max_top1_drop_pts": 0.5}


def test_pyproject_tool_table_and_discovery(tmp_path):
    text = GOOD.replace("[budgets]", "[tool.edgelite.budgets]").replace("[latency]", "[tool.edgelite.latency]") \
        .replace("[[models]]", "[[tool.edgelite.models]]") \
        .replace("[models.budgets]", "[tool.edgelite.models.budgets]") \
        .replace('baseline = "base.json"', '[project]\nname = "x"\n[tool.edgelite]\nbaseline = "base.json"')
    path = _write(tmp_path, text, "pyproject.toml")
    assert find_config(tmp_path) == path
    cfg = load_config(path)
    assert cfg.models[0].name == "a" and cfg.latency.threads == 2


@pytest.mark.parametrize("change, key, words", [
    (("max_size_bytes = 1000", "max_size_byts = 1000"), "models[0].budgets.max_size_byts", "unknown key"),
    (("max_size_bytes = 1000", 'max_size_bytes = "1k"'), "models[0].budgets.max_size_bytes", "expected an integer"),
    (("max_size_bytes = 1000", "max_size_bytes = 1.5"), "models[0].budgets.max_size_bytes", "expected an integer"),
    (("max_top1_drop_pts = 1.0", "max_top1_drop_pts = true"), "budgets.max_top1_drop_pts", "expected a number"),
    (("max_size_bytes = 1000", "min_agreement = 1.5"), "models[0].budgets.min_agreement", "between 0 and 1"),
    (("max_size_bytes = 1000", "max_latency_growth_pct = -1"), "models[0].budgets.max_latency_growth_pct", "≥ 0"),
    (('tflite = "m.tflite"', 'tflite = "missing.tflite"'), "models[0].tflite", "no such file"),
    (('name = "a"', 'nme = "a"'), "models[0].nme", "unknown key"),
    (('name = "a"', ""), "models[0].name", "required key missing"),
    (('name = "a"', 'name = "a b"'), "models[0].name", "letters, digits"),
    (('eval = "eval"', ""), "models[0].eval", "required by max_top1_drop_pts"),
    (('reference = "ref.tflite"', ""), "models[0].reference", "required with tflite"),
    (('tflite = "m.tflite"', 'tflite = "m.tflite"\nsource = "m.tflite"'), "models[0]", "exactly one of"),
    (('eval = "eval"', 'eval = "eval"\ncalib = "eval"'), "models[0].calib", "only applies to source models"),
    (("max_top1_drop_pts = 0.5", "max_top1_drop_pts = 0.5\n[models.convert]\nmode = 'int8'"), "models[0].convert",
     "only applies to source models"),
    (("threads = 2", "threads = 0"), "latency", "threads ≥ 1"),
    (("threads = 2", "thread = 2"), "latency.thread", "unknown key"),
    (('baseline = "base.json"', 'baseline = 3'), "baseline", "expected a path string"),
    (('baseline = "base.json"', 'baselines = "b.json"'), "baselines", "unknown key"),
])
def test_mistakes_name_the_key_and_the_file(tmp_path, change, key, words):
    old, new = change
    text = textwrap.dedent(GOOD)
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(UserInputError) as err:
        load_config(path)
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and f"{key}:" in msg and words in msg, msg


def test_source_models_need_calibration_and_a_known_mode(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"x")
    base = 'name = "a"\nsource = "m.keras"\n'
    path = _write(tmp_path, "[[models]]\n" + base)
    with pytest.raises(UserInputError, match=r"models\[0\]\.calib: required to convert m\.keras to int8"):
        load_config(path)
    path.write_text("[[models]]\n" + base + 'calib = "eval"\n[models.convert]\nmode = "int4"\n')
    with pytest.raises(UserInputError, match=r"models\[0\]\.convert\.mode: one of int8"):
        load_config(path)
    path.write_text("[[models]]\n" + base + '[models.convert]\nmode = "float16"\n')
    assert load_config(path).models[0].convert.mode == "float16"   # no calibration needed
    path.write_text("[[models]]\n" + base + '[models.convert]\ntarget = "gpu"\n')
    assert load_config(path).models[0].convert.mode == "float16"   # the gpu target's default mode
    path.write_text("[[models]]\n" + base + '[models.convert]\ntarget = "gpu"\nmode = "int8"\n')
    with pytest.raises(UserInputError, match=r"models\[0\]\.convert: --target gpu takes --mode float16"):
        load_config(path)
    path.write_text("[[models]]\n" + base + '[models.convert]\ntarget = "phone"\n')
    with pytest.raises(UserInputError, match=r"models\[0\]\.convert\.target: one of litert, mediapipe, gpu"):
        load_config(path)


def test_duplicate_names_empty_models_bad_toml_and_no_config(tmp_path):
    text = textwrap.dedent(GOOD)
    model = text[text.index("[[models]]"):]
    path = _write(tmp_path, text + model)
    with pytest.raises(UserInputError, match="'a' is used twice"):
        load_config(path)
    path.write_text("baseline = 'b.json'\n")
    with pytest.raises(UserInputError, match=r"models: list at least one model"):
        load_config(path)
    path.write_text("[[models]\nname=")
    with pytest.raises(UserInputError, match="not valid TOML"):
        load_config(path)
    with pytest.raises(UserInputError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserInputError, match="pass --config FILE"):
        find_config(empty)


def test_cli_config_error_is_one_line_exit_2(tmp_path, run_cli):
    path = _write(tmp_path, textwrap.dedent(GOOD).replace("max_size_bytes", "max_sise_bytes"))
    code, out, err = run_cli("check", "--config", path)
    assert code == 2 and "Traceback" not in err
    assert err.strip().count("\n") == 0 and "models[0].budgets.max_sise_bytes: unknown key" in err


def test_non_finite_budgets_are_config_errors(tmp_path, example_models, run_cli):
    """nan compares false with everything: a nan budget is a config mistake (exit 2), not a failed budget."""
    for value in ("nan", "inf", "-inf"):
        cfg = tmp_path / f"{value}.toml"
        cfg.write_text(f'[[models]]\nname = "m"\ntflite = "{example_models["int8"]}"\n'
                       f"[models.budgets]\nmin_agreement = {value}\n")
        code, _, err = run_cli("check", "--config", cfg)
        assert code == 2 and "expected a finite number" in err and err.count("\n") == 1, err


def test_convert_calibration_method_is_validated_with_the_file_and_key(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"x")
    (tmp_path / "calib").mkdir()
    base = '[[models]]\nname = "a"\nsource = "m.keras"\ncalib = "calib"\n[models.convert]\n'
    path = _write(tmp_path, base + 'calibration = "kmeans"\n')
    with pytest.raises(UserInputError, match=r"edgelite.toml: models\[0\]\.convert: --calibration must be one of"):
        load_config(path)
    path.write_text(base + 'calibration = "percentile:99.9"\nbias_correction = true\n')
    convert = load_config(path).models[0].convert
    assert convert.calibration == "percentile:99.9" and convert.bias_correction is True
