"""``convert --recipe``: a conversion's choices travel in its file and its report, and replaying them makes the
same model (without searching again); a recipe that cannot apply is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgelite.converter import metadata_writer
from edgelite.runtime import Model

pytestmark = pytest.mark.slow


def _bare(path):
    """The model flatbuffer without edgelite's own entry (its provenance carries the creation time)."""
    return metadata_writer.with_metadata(path.read_bytes(), {}, remove=["edgelite"])


def test_a_chosen_recipe_replays_to_the_same_model(example, tmp_path, run_cli):
    first, again, report = tmp_path / "a.tflite", tmp_path / "b.tflite", tmp_path / "a.json"
    code, _, err = run_cli("convert", str(example / "model.keras"), "-o", str(first), "--calib",
                           str(example / "calib"), "--samples", "60", "--calibration", "percentile:99.9",
                           "--bias-correction", "--keep-float", "fc1", "--json", str(report))
    assert code == 0, err
    recipe = Model.load(first).metadata.provenance["recipe"]
    assert json.loads(report.read_text())["recipe"] == recipe
    assert (recipe["calibration"], recipe["bias_correction"], recipe["mode"], recipe["io"]) == \
        ("percentile:99.9", True, "int8", "int8")
    assert recipe["float_layers"] and all(p.startswith("^") for p in recipe["keep_float"][1:])
    # replayed from the file itself, with no quantization flag: the same model
    code, _, err = run_cli("convert", str(example / "model.keras"), "-o", str(again), "--calib",
                           str(example / "calib"), "--samples", "60", "--recipe", str(first))
    assert code == 0, err
    assert _bare(again) == _bare(first)
    # a plain conversion with the same data is another model: the recipe did the work
    plain = tmp_path / "plain.tflite"
    assert run_cli("convert", str(example / "model.keras"), "-o", str(plain), "--calib", str(example / "calib"),
                   "--samples", "60")[0] == 0
    assert _bare(plain) != _bare(first)


def test_recipe_refuses_flags_it_would_override_and_bad_files(example, tmp_path, run_cli):
    out = tmp_path / "x.tflite"
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"calibration": "mse", "bias_correction": True}))
    base = ("convert", str(example / "model.keras"), "-o", str(out), "--calib", str(example / "calib"))
    code, _, err = run_cli(*base, "--recipe", str(recipe), "--calibration", "entropy")
    assert code == 2 and "drop --calibration" in err and err.count("\n") == 1
    for text, want in (("{not json", "not JSON"), ('{"calibration": 3}', "calibration"),
                       ('{"no_such_choice": 1}', "no_such_choice"), ("[1, 2]", "JSON object")):
        recipe.write_text(text)
        code, _, err = run_cli(*base, "--recipe", str(recipe))
        assert code == 2 and want in err and str(recipe) in err and err.count("\n") == 1, (text, err)
    foreign = tmp_path / "foreign.tflite"
    kernel = Path(__file__).resolve().parents[2] / "runtime" / "data" / "timing_kernel_int8.tflite"
    foreign.write_bytes(metadata_writer.with_metadata(kernel.read_bytes(), {}, remove=["edgelite"]))
    code, _, err = run_cli(*base, "--recipe", str(foreign))
    assert code == 2 and "carries no edgelite recipe" in err and err.count("\n") == 1
