"""--calibration on a real conversion: the ranges the method picks reach the int8 file, the I/O contract does
not move, the report says what changed, and misuse is a one-line error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgelite.runtime import Model, tflite_file

pytestmark = pytest.mark.slow


def _activation_scales(path) -> dict[str, float]:
    m = Model.load(path)
    return {d["name"]: float(d["quantization"][0]) for d in m._interp.get_tensor_details()
            if d["dtype"] == np.int8 and d["quantization"][0]}


def test_percentile_ranges_reach_the_file_and_keep_the_input_contract(example, example_models, tmp_path, run_cli):
    out, report = tmp_path / "p.tflite", tmp_path / "p.json"
    code, stdout, err = run_cli("convert", str(example / "model.keras"), "-o", str(out), "--calib",
                                str(example / "calib"), "--calibration", "percentile:99.9", "--json", str(report))
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["schema_version"] == 5 and r["ranges"]["method"] == "percentile:99.9"
    assert r["ranges"]["narrowed"] >= 1 and 0.0 < r["ranges"]["median_width"] < 1.0
    assert "activation ranges narrowed" in stdout
    plain, ours = _activation_scales(example_models["int8"]), _activation_scales(out)
    narrower = [n for n in plain if n in ours and ours[n] < plain[n] * 0.999]
    assert narrower, "no activation got a finer int8 step"
    # the input quantization is the contract with the caller (pixels/255): untouched
    assert Model.load(out).input.scale == Model.load(example_models["int8"]).input.scale
    # the default run writes no `ranges` key (schema 4 adds it only when a method other than minmax ran)
    assert "ranges" not in json.loads(json.dumps(_convert_report(example, tmp_path, run_cli)))


def _convert_report(example, tmp_path, run_cli) -> dict:
    report = tmp_path / "m.json"
    code, _, err = run_cli("convert", str(example / "model.keras"), "-o", str(tmp_path / "m.tflite"), "--calib",
                           str(example / "calib"), "--samples", "50", "--json", str(report))
    assert code == 0, err
    return json.loads(report.read_text())


def test_refine_narrows_recorded_ranges_inside_the_min_max(example, tmp_path):
    """On the real calibrate-only model: every chosen range lies inside the recorded min/max and contains 0,
    the model's input range is kept, and the file is edited in place (same size)."""
    from edgelite.calibration.ranges import RangeMethod
    from edgelite.converter import ConvertConfig
    from edgelite.converter.calibrated import Calibrated
    from edgelite.converter.prepare import prepared
    from edgelite.converter.range_calibration import refine

    cfg = ConvertConfig(example / "model.keras", tmp_path / "x.tflite", calib=example / "calib", samples=40)
    with prepared(cfg, []) as prep:
        assert prep.calib is not None
        cal = Calibrated(prep.src, cfg, prep.calib.x)
        before = cal.ranges
        edited, choice = refine(cal.data, prep.calib.x, RangeMethod.parse("percentile:99"))
    after = tflite_file.tensor_ranges(edited)
    assert len(edited) == len(cal.data) and choice.narrowed >= 1 and set(after) == set(before)
    changed = {name: r for name, r in after.items() if r != before[name]}
    assert len(changed) == choice.narrowed
    for name, (lo, hi) in changed.items():
        b_lo, b_hi = before[name]
        assert min(b_lo, 0.0) - 1e-6 <= lo <= 0.0 <= hi <= max(b_hi, 0.0) + 1e-6, (name, before[name], (lo, hi))
    input_name = Model.from_bytes(cal.data).input.name
    assert after[input_name] == before[input_name]


@pytest.mark.parametrize("argv, message", [
    (["--calibration", "kmeans"], "--calibration must be one of"),
    (["--calibration", "entropy", "--mode", "float16"], "works with --mode int8"),
])
def test_misuse_is_one_line(example, tmp_path, run_cli, argv, message):
    code, _, err = run_cli("convert", str(example / "model.keras"), "-o", str(tmp_path / "x.tflite"), "--calib",
                           str(example / "calib"), *argv)
    assert code == 2 and err.count("\n") == 1 and message in err, err
