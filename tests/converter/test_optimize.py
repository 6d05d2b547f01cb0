"""--optimize accuracy on the real example: every step is reported on the held-out confirm part only — the
figures are recomputed here, from the written model and the split, and must match; nothing on the search part
or the calibration data is reported as held out."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_reported_figures_come_from_the_held_out_part_only(example, tmp_path, run_cli):
    from edgelite.calibration.split import search_confirm
    from edgelite.converter import ConvertConfig
    from edgelite.converter.calibrated import Calibrated
    from edgelite.converter.prepare import prepared
    from edgelite.converter.scoring import run_outputs

    out, report = tmp_path / "opt.tflite", tmp_path / "r.json"
    code, stdout, err = run_cli("convert", str(example / "model.keras"), "-o", str(out), "--calib",
                                str(example / "calib"), "--samples", "100", "--eval", str(example / "eval"),
                                "--optimize", "accuracy", "--json", str(report))
    assert code == 0, err
    o = json.loads(report.read_text())["optimize"]
    steps = {s["step"]: s for s in o["steps"]}
    assert list(steps)[:4] == ["calibration minmax", "calibration percentile", "calibration mse",
                               "calibration entropy"]
    assert steps["+ equalization"]["notice"].startswith("not applicable: no depthwise-separable block")
    assert "+ equalization           not applicable" in stdout

    # the split, derived again: the reported held-out figures are on the confirm part, never the search part
    cfg = ConvertConfig(example / "model.keras", tmp_path / "x.tflite", calib=example / "calib", samples=100,
                        eval=example / "eval")
    with prepared(cfg, []) as prep:
        ev = prep.eval_data(cfg)
        s_idx, c_idx = search_confirm(prep.eval_groups, ev.y, cfg.confirm_fraction, cfg.seed)
        assert prep.calib is not None
        float_bytes = Calibrated(prep.src, cfg, prep.calib.x).float_model()
    assert not set(s_idx) & set(c_idx) and len(c_idx) == o["confirm_samples"] and len(s_idx) == o["search_samples"]
    ref = run_outputs(float_bytes, ev.x).argmax(1)
    got = run_outputs(out.read_bytes(), ev.x).argmax(1)
    assert ev.y is not None

    def drop(idx: np.ndarray) -> float:
        return 100.0 * (np.mean(ref[idx] == ev.y[idx]) - np.mean(got[idx] == ev.y[idx]))

    chosen = steps[o["chosen"]]
    assert chosen["held_out"]["samples"] == len(c_idx)
    assert chosen["held_out"]["loss_pts"] == pytest.approx(drop(c_idx), abs=1e-3)
    assert chosen["search_loss_pts"] == pytest.approx(drop(s_idx), abs=1e-3)
    assert all(s["held_out"] is None or s["held_out"]["samples"] == len(c_idx) for s in o["steps"])
    # the parts differ in size, so the sample count alone tells which part a figure came from
    assert len(c_idx) != len(s_idx)
    assert chosen["held_out"]["agreement"] == pytest.approx(float(np.mean(ref[c_idx] == got[c_idx])), abs=1e-6)


def test_stops_at_the_first_step_that_meets_the_budget(example, tmp_path, run_cli):
    report = tmp_path / "r.json"
    code, stdout, err = run_cli("convert", str(example / "model.keras"), "-o", str(tmp_path / "o.tflite"), "--calib",
                                str(example / "calib"), "--samples", "100", "--eval", str(example / "eval"),
                                "--optimize", "accuracy", "--max-drop", "5", "--json", str(report))
    assert code == 0, err
    o = json.loads(report.read_text())["optimize"]
    assert [s["step"] for s in o["steps"]] == ["calibration minmax"] and o["met"] is True


def test_optimize_refuses_what_it_cannot_judge_honestly(example, tmp_path, run_cli):
    base = ("convert", str(example / "model.keras"), "-o", str(tmp_path / "o.tflite"), "--calib",
            str(example / "calib"), "--optimize", "accuracy")
    for extra, message in (((), "--optimize accuracy needs --eval SRC"),
                           (("--eval", str(example / "eval"), "--calibration", "mse"), "chooses --calibration"),
                           (("--eval", str(example / "eval"), "--confirm-fraction", "0"), "held-out figures only"),
                           (("--eval", str(example / "eval"), "--max-size-growth", "0.5"), "--max-size-growth")):
        code, _, err = run_cli(*base, *extra)
        assert code == 2 and message in err and err.count("\n") == 1, (extra, err)


def test_calibration_auto_tries_the_range_methods_only(example, tmp_path, run_cli):
    report = tmp_path / "r.json"
    code, stdout, err = run_cli("convert", str(example / "model.keras"), "-o", str(tmp_path / "a.tflite"), "--calib",
                                str(example / "calib"), "--samples", "100", "--eval", str(example / "eval"),
                                "--calibration", "auto", "--json", str(report))
    assert code == 0, err
    o = json.loads(report.read_text())["optimize"]
    assert o["goal"] == "calibration"
    assert [s["step"] for s in o["steps"]] == ["calibration minmax", "calibration percentile", "calibration mse",
                                               "calibration entropy"]
    assert "calibration auto: chose" in stdout
    code, _, err = run_cli("convert", str(example / "model.keras"), "-o", str(tmp_path / "b.tflite"), "--calib",
                           str(example / "calib"), "--calibration", "auto")
    assert code == 2 and "--calibration auto needs --eval SRC" in err and err.count("\n") == 1
