"""Task metrics (runtime/tasks): each judge on outputs built by hand so the expected figure follows from the
construction (not from the judge's formula), the loss rule, the task guess, the user metric's contract and its
one-line errors, and the JSON contract of compare's task section."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, TaskFigures, TaskMetric, info
from edgelite.runtime.tasks.judge import judge
from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, guess, resolve


def _ctx(n: int, **kw) -> EvalContext:
    return EvalContext(ids=tuple(f"s{i}" for i in range(n)), **kw)


def _spec(kind: str, **kw):
    return resolve(TaskRequest(kind=kind, **kw), [OutputInfo("out", (4,))], input_hw=(100, 200))


# ---- landmarks ---------------------------------------------------------------------------------------------
def test_landmarks_error_in_pixels_and_interocular_nme():
    rng = np.random.default_rng(0)
    n, points = 12, 468
    ref = rng.uniform(20, 170, size=(n, points, 3))
    ref[:, 33, :2] = [60.0, 80.0]      # outer eye corners 40 px apart
    ref[:, 263, :2] = [100.0, 80.0]
    cand = ref.copy()
    cand[:, :, 0] += 3.0               # every point 3 px right, z left alone
    cand[:2, :, 1] += 4.0              # two samples: 5 px off (3-4-5)
    spec = resolve(TaskRequest(kind="landmarks"), [OutputInfo("mesh", (points * 3,))], input_hw=(192, 192))
    t = judge(spec, {"mesh": ref.reshape(n, -1)}, {"mesh": cand.reshape(n, -1)}, _ctx(n, input_size=(192, 192)))
    expected_px = (2 * 5.0 + 10 * 3.0) / n
    assert t.headline == "landmark_error_px"
    assert t.metrics["landmark_error_px"].candidate == pytest.approx(expected_px, abs=1e-6)
    assert t.metrics["landmark_nme"].candidate == pytest.approx(expected_px / 40.0, abs=1e-6)
    # the two samples 5 px off have NME 5/40 = 12.5 % > 10 %: failures; 3/40 = 7.5 % is not
    assert t.metrics["landmark_failure_rate"].candidate == pytest.approx(2 / n, abs=1e-6)
    assert t.metrics["landmark_error_px"].reference is None         # vs-reference: null
    assert t.loss() == pytest.approx(expected_px, abs=1e-4)         # an error: the loss is the rise, in px
    assert [w.id for w in t.worst[:2]] == ["s0", "s1"]
    assert "inter-ocular" in t.method


def test_landmarks_failure_rate_and_normalised_coordinates():
    n = 10
    ref = np.tile(np.array([[0.2, 0.2], [0.8, 0.2], [0.5, 0.8]]), (n, 1, 1))   # normalised: box 0.6 x 0.6
    cand = ref.copy()
    cand[:3] += 0.1    # 3 samples moved (0.1, 0.1) normalised = 14.1 px at 100 px; box size 60 px → NME 0.236
    spec = resolve(TaskRequest(kind="landmarks"), [OutputInfo("pts", (3, 2))], input_hw=(100, 100))
    t = judge(spec, {"pts": ref}, {"pts": cand}, _ctx(n, input_size=(100, 100)))
    assert t.metrics["landmark_failure_rate"].candidate == pytest.approx(0.3, abs=1e-6)
    assert t.metrics["landmark_error_px"].candidate == pytest.approx(3 * math.hypot(10, 10) / n, abs=1e-5)
    assert "box size" in t.method


# ---- segment, embed, regress, classify --------------------------------------------------------------------
def test_segment_miou_by_construction():
    n, h, w = 4, 8, 8
    ref = np.zeros((n, h, w, 2), np.float32)
    ref[:, :, :4, 1] = 1.0          # left half class 1, right half class 0
    ref[:, :, 4:, 0] = 1.0
    cand = ref.copy()
    cand[:, :, 4, :] = [0.0, 1.0]   # one more column painted class 1
    spec = resolve(TaskRequest(kind="segment"), [OutputInfo("seg", (h, w, 2))], input_hw=(h, w))
    t = judge(spec, {"seg": ref}, {"seg": cand}, _ctx(n))
    # class 1: inter 32, union 40 → 0.8; class 0: inter 24, union 32 → 0.75
    assert t.metrics["miou"].candidate == pytest.approx((0.8 + 0.75) / 2, abs=1e-6)
    assert t.metrics["pixel_agreement"].candidate == pytest.approx(56 / 64, abs=1e-6)
    assert t.loss() == pytest.approx(100 * (1 - 0.775), abs=1e-3)     # a rate: points


def test_embed_cosine_and_neighbours():
    rng = np.random.default_rng(1)
    n, d = 40, 16
    ref = rng.normal(size=(n, d))
    theta = 0.3
    # rotate every vector by theta in the plane of its first two coordinates: cosine exactly cos(theta) only when
    # the vector lies in that plane, so build vectors that do
    ref[:, 2:] = 0.0
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    cand = ref.copy()
    cand[:, :2] = ref[:, :2] @ rot.T
    t = judge(_spec("embed"), {"out": ref}, {"out": cand}, _ctx(n))
    assert t.metrics["cosine"].candidate == pytest.approx(math.cos(theta), abs=1e-6)
    # a rotation keeps every angle between vectors: the neighbours are the same
    assert t.metrics["knn_overlap10"].candidate == pytest.approx(1.0)
    shuffled = rng.permutation(cand)
    t2 = judge(_spec("embed"), {"out": ref}, {"out": shuffled}, _ctx(n))
    assert t2.metrics["knn_overlap10"].candidate < 0.6


def test_regress_mae_rmse():
    ref = np.zeros((5, 4))
    cand = np.zeros((5, 4))
    cand[0] = 2.0               # one sample off by 2 in every value
    t = judge(_spec("regress"), {"out": ref}, {"out": cand}, _ctx(5))
    assert t.metrics["mae"].candidate == pytest.approx(2 * 4 / 20, abs=1e-6)
    assert t.metrics["rmse"].candidate == pytest.approx(math.sqrt(4 * 4 / 20), abs=1e-6)
    assert t.worst[0].id == "s0"
    assert t.details is None   # one output: the JSON as before


def test_regress_rows_name_their_output_when_there_are_several():
    """BlazeFace judged as regress: two "mean absolute error" rows read the same unless each names its output;
    the JSON keys stay ``mae`` (the first output) and ``mae[NAME]`` (the others)."""
    from edgelite.cli.render import task_table

    r = np.random.default_rng(0)
    ref = {"regressors": r.normal(size=(6, 896, 16)), "classificators": r.normal(size=(6, 896, 1))}
    cand = {k: v + 0.01 for k, v in ref.items()}
    t = judge(_spec("regress"), ref, cand, _ctx(6))
    assert list(t.metrics) == ["mae", "rmse", "mae[classificators]", "rmse[classificators]"]
    assert t.details == {"outputs": ["regressors", "classificators"]}
    rows = [line for line in task_table(t).splitlines() if "error" in line and "method" not in line]
    labels = [line.strip(" *").split("  ")[0] for line in rows]
    assert labels == ["mean absolute error (regressors)", "root mean square error (regressors)",
                      "mean absolute error (classificators)", "root mean square error (classificators)"], rows
    # the saved report reads back and renders the same
    back = TaskFigures.from_dict(json.loads(json.dumps(t.to_dict())))
    assert task_table(back) == task_table(t)
    # one output: the rows as before, no output named
    single = task_table(judge(_spec("regress"), {"out": ref["regressors"]}, {"out": cand["regressors"]}, _ctx(6)))
    assert "* mean absolute error  " in single and "(out)" not in single


def test_classify_agreement_and_top1():
    ref = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]]
    cand = ref.copy()
    cand[[1, 2]] = np.eye(3)[[0, 0]]      # two flips
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 1])   # the float model gets 9/10
    t = judge(_spec("classify"), {"out": ref}, {"out": cand}, _ctx(10, labels=labels))
    assert t.metrics["agreement"].candidate == pytest.approx(0.8, abs=1e-6)
    assert t.metrics["top1"].reference == pytest.approx(0.9) and t.metrics["top1"].candidate == pytest.approx(0.7)
    assert t.headline == "top1" and t.loss() == pytest.approx(20.0)
    lo, hi = t.metrics["top1"].delta_ci95
    assert lo <= -0.2 <= hi


# ---- the loss rule and the records -------------------------------------------------------------------------
def test_loss_rule_points_for_rates_units_otherwise():
    assert info("detections_kept").loss(-0.05) == pytest.approx(5.0)          # a rate lost: points
    assert info("landmark_error_px").loss(0.7) == pytest.approx(0.7)          # an error risen: its own unit
    assert info("detections_added_per_image").loss(0.2) == pytest.approx(0.2)
    assert info("metric").loss(-0.03) == pytest.approx(0.03)                  # the user's unit
    assert info("mae[box]").label == info("mae").label
    t = TaskFigures(kind="detect", headline="detections_kept", basis="", method="",
                    metrics={"detections_kept": TaskMetric.of(None, 0.9, -0.1, (-0.15, -0.05))})
    assert t.loss() == pytest.approx(10.0) and t.loss_ci95() == [5.0, 15.0]
    again = TaskFigures.from_dict(json.loads(json.dumps(t.to_dict())))
    assert again == t


# ---- the task guess and its refusals ----------------------------------------------------------------------
def test_guess_from_outputs():
    post = [OutputInfo("boxes", (10, 4)), OutputInfo("classes", (10,)), OutputInfo("scores", (10,)),
            OutputInfo("count", ())]
    assert guess(post)[0] == "detect"
    assert guess([OutputInfo("head", (84, 8400))])[0] == "detect"
    assert guess([OutputInfo("seg", (257, 257, 21))], input_hw=(257, 257))[0] == "segment"
    assert guess([OutputInfo("p", (7,))], labels=list("abcdefg"))[0] == "classify"
    kind, why = guess([OutputInfo("emb", (128,))])
    assert kind == "regress" and "per-output error only" in why
    spec = resolve(TaskRequest(), [OutputInfo("regressors", (896, 16)), OutputInfo("classificators", (896, 1))])
    assert spec.kind == "regress" and any("--decoder" in n for n in spec.notes)


def test_task_refusals_are_one_line(tmp_path):
    outs = [OutputInfo("regressors", (896, 16)), OutputInfo("classificators", (896, 1))]
    with pytest.raises(UserInputError, match="need a decoder; give --decoder FILE"):
        resolve(TaskRequest(kind="detect"), outs)
    with pytest.raises(UserInputError, match="COCO annotations judge a detector"):
        resolve(TaskRequest(kind="segment", annotations=tmp_path / "a.json"), outs)
    with pytest.raises(UserInputError, match="one of classify"):
        TaskRequest(kind="pose")
    bad = tmp_path / "d.toml"
    bad.write_text('[anchors]\nnum_layers = 4\n')
    with pytest.raises(UserInputError, match="decoder file"):
        resolve(TaskRequest(decoder=bad), outs)


# ---- the user metric ---------------------------------------------------------------------------------------
METRIC_FILE = '''
import numpy as np
CALLS = []
def frame_hits(outputs, reference=None, labels=None):
    CALLS.append(reference is None)
    out = outputs["out"] > 0.5
    if reference is None:
        per = out.mean(axis=1).astype(float)
        return float(per.mean()), per
    same = (out == (reference["out"] > 0.5)).mean(axis=1)
    return float(same.mean()), same
def scalar(outputs, reference=None, labels=None):
    return float(np.mean(outputs["out"]))
def boom(outputs, reference=None, labels=None):
    raise KeyError("no_such_output")
def nan(outputs, reference=None, labels=None):
    return float("nan")
def text(outputs, reference=None, labels=None):
    return "good"
'''


def test_user_metric_is_called_as_documented_and_headlines(tmp_path):
    f = tmp_path / "my_metric.py"
    f.write_text(METRIC_FILE)
    rng = np.random.default_rng(2)
    ref = rng.uniform(size=(30, 8))
    cand = ref.copy()
    cand[:6] = 1.0 - cand[:6]     # 6 samples flipped
    spec = resolve(TaskRequest(kind="regress", metric=f"{f}:frame_hits", resamples=300),
                   [OutputInfo("out", (8,))])
    t = judge(spec, {"out": ref}, {"out": cand}, _ctx(30))
    m = t.metrics["metric"]
    ref_hits = float((ref > 0.5).mean())
    assert t.headline == "metric" and m.reference == pytest.approx(ref_hits, abs=1e-6)
    flipped_agree = ((cand > 0.5) == (ref > 0.5)).mean()
    assert m.candidate == pytest.approx(flipped_agree, abs=1e-6)
    assert m.delta_ci95 is not None and m.delta_ci95[0] <= m.delta <= m.delta_ci95[1]
    assert "mae" in t.metrics        # the task's own figures stay beside it
    assert {w.id for w in t.worst[:6]} == {f"s{i}" for i in range(6)}
    # without per-sample values the metric is recomputed on resamples
    spec2 = resolve(TaskRequest(kind="regress", metric=f"{f}:scalar", resamples=50), [OutputInfo("out", (8,))])
    t2 = judge(spec2, {"out": ref}, {"out": cand}, _ctx(30))
    assert t2.metrics["metric"].delta_ci95 is not None and "recomputed" in t2.method


@pytest.mark.parametrize("func, words", [("boom", "raised KeyError"), ("nan", "returned nan"),
                                         ("text", "returned str"), ("absent", "has no function")])
def test_user_metric_errors_are_one_line(tmp_path, func, words):
    f = tmp_path / "m.py"
    f.write_text(METRIC_FILE)
    ref = np.zeros((4, 8))

    def scored() -> None:
        spec = resolve(TaskRequest(metric=f"{f}:{func}"), [OutputInfo("out", (8,))])
        judge(spec, {"out": ref}, {"out": ref}, _ctx(4))

    with pytest.raises(UserInputError, match=words) as e:
        scored()
    assert "\n" not in str(e.value)


def test_user_metric_module_is_imported_only_when_named(tmp_path):
    import sys

    f = tmp_path / "side_effect.py"
    f.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').write('x')\ndef m(o, reference=None, labels=None): "
                 "return 1.0\n")
    resolve(TaskRequest(kind="regress"), [OutputInfo("out", (8,))])
    assert not (tmp_path / "ran").exists()
    resolve(TaskRequest(kind="regress", metric=f"{f}:m"), [OutputInfo("out", (8,))])
    assert (tmp_path / "ran").exists()
    with pytest.raises(UserInputError, match="give package.module:function"):
        resolve(TaskRequest(metric="nocolon"), [OutputInfo("out", (8,))])
    assert "nocolon" not in sys.modules


# ---- compare's JSON contract -------------------------------------------------------------------------------
def test_compare_json_task_section(example_models, example, tmp_path, run_cli):
    out = tmp_path / "c.json"
    code, text, err = run_cli("compare", example_models["float32"], example_models["int8"], "--data",
                              example / "eval", "--task", "embed", "--json", out)
    assert code == 0, err
    task = json.loads(out.read_text())["task"]
    assert task["kind"] == "embed" and task["headline"] == "cosine"
    for name in ("cosine", "knn_overlap10"):
        m = task["metrics"][name]
        assert set(m) == {"reference", "candidate", "delta", "delta_ci95"} and m["reference"] is None
        assert m["delta_ci95"][0] <= m["delta"] <= m["delta_ci95"][1]
    assert "task: embed (--task)" in text and "k-NN overlap@10" in text
    # the default on a classifier: classify, from its labels, with the figures compare already prints
    code, text, err = run_cli("compare", example_models["float32"], example_models["int8"], "--data",
                              example / "eval", "--json", out)
    task = json.loads(out.read_text())["task"]
    assert task["kind"] == "classify" and "labels fit" in task["basis"]
    report = json.loads(out.read_text())
    assert task["metrics"]["top1"]["candidate"] * 100 == pytest.approx(report["candidate"]["top1"], abs=1e-3)


def test_saved_runs_keep_their_task(example_models, example, tmp_path, run_cli):
    runs = []
    for key in ("float32", "int8"):
        p = tmp_path / f"{key}.npz"
        code, _, err = run_cli("run", example_models[key], example / "eval", "--save-run", p)
        assert code == 0, err
        runs.append(p)
    code, text, err = run_cli("compare", *runs, "--task", "regress", "--json", tmp_path / "c.json")
    assert code == 0, err
    assert json.loads((tmp_path / "c.json").read_text())["task"]["kind"] == "regress"


def test_compare_gives_each_channel_group_of_a_mixed_output_its_error():
    from edgelite.runtime.compare import compare_runs
    from edgelite.runtime.runs import Run

    rng = np.random.default_rng(0)
    n = 20
    # a YOLO-style head: 4 box channels in pixels beside 3 score channels in [0, 1], 50 candidates
    ref = np.concatenate([rng.uniform(0, 640, (n, 4, 50)), rng.uniform(0, 1, (n, 3, 50))], 1).astype(np.float32)
    step = 640 / 255           # one per-tensor int8 scale over the whole head
    cand = (np.round(ref / step) * step).astype(np.float32)
    description = {"path": "x.tflite", "kind": "tflite", "size_bytes": 1, "backend": "litert", "backend_version": "0"}

    def run(o):
        return Run(outputs={"head": o}, ids=tuple(map(str, range(n))), times_s=np.full(n, 0.001),
                   description=description)

    r = compare_runs(run(ref), run(cand))
    boxes, scores = r.outputs[0].groups
    assert (boxes.channels, scores.channels) == ("channels 0–3", "channels 4–6")
    # rounding to steps of 2.5: the boxes keep ~50 dB, the scores (mostly rounded to 0 or 2.5) keep nothing
    assert boxes.snr_db > 40 and scores.snr_db < 10 and scores.max_abs_error > 0.9
    assert any("mixes ranges" in note and "channels 4–6" in note for note in r.notes)
    assert "groups" not in compare_runs(run(ref[:, :4]), run(cand[:, :4])).to_dict()["outputs"][0]


def test_segment_against_label_masks(tmp_path):
    from PIL import Image

    n, h, w = 3, 8, 8
    labels = np.zeros((n, 16, 16), np.uint8)
    labels[:, :, :8] = 1           # left half class 1
    labels[:, 0, :] = 255          # top row ignored
    for i in range(n):             # masks at twice the output's size: resized (nearest) to 8x8
        Image.fromarray(labels[i], mode="L").save(tmp_path / f"img{i}.png")
    perfect = np.zeros((n, h, w, 2), np.float32)
    perfect[:, :, :4, 1] = 1.0
    perfect[:, :, 4:, 0] = 1.0
    shifted = np.zeros_like(perfect)
    shifted[:, :, :2, 1] = 1.0     # class 1 only on the first 2 of its 4 columns
    shifted[:, :, 2:, 0] = 1.0
    spec = resolve(TaskRequest(masks=tmp_path), [OutputInfo("seg", (h, w, 2))], input_hw=(h, w))
    assert spec.kind == "segment"
    ctx = EvalContext(ids=tuple(f"photos/img{i}.jpg" for i in range(n)))
    t = judge(spec, {"seg": perfect}, {"seg": shifted}, ctx)
    m = t.metrics["miou"]
    # valid rows 1..7 (row 0 ignored): class 1 IoU 2/4, class 0 IoU 4/6 for the shifted side; 1 for the perfect
    assert m.reference == pytest.approx(1.0) and m.candidate == pytest.approx((0.5 + 4 / 6) / 2, abs=1e-6)
    assert t.metrics["pixel_agreement"].candidate == pytest.approx(6 / 8, abs=1e-6)
    (tmp_path / "img2.png").unlink()
    with pytest.raises(UserInputError, match="no label mask for 1 of 3 evaluation images"):
        judge(spec, {"seg": perfect}, {"seg": shifted}, ctx)


def test_guesses_that_stay_away_from_lookalikes():
    # an image-to-image model's RGB output is not a score map; 200 audio frames of 88 notes are not a YOLO head
    assert guess([OutputInfo("rgb", (64, 64, 3))], input_hw=(64, 64))[0] == "regress"
    assert guess([OutputInfo("notes", (200, 88))])[0] == "regress"


def test_a_guess_that_cannot_judge_falls_back_to_per_output_error():
    from edgelite.runtime.compare import compare_runs
    from edgelite.runtime.runs import Run

    n = 4
    # a YOLO-shaped head (4+C, N) with boxes in pixels, from a run that does not say the input size: the guessed
    # decoder cannot turn pixels into normalized boxes
    head = np.full((n, 6, 2100), 100.0, np.float32)
    description = {"path": "x.tflite", "kind": "tflite", "size_bytes": 1, "backend": "litert", "backend_version": "0"}
    run = Run(outputs={"o": head}, ids=tuple(map(str, range(n))), times_s=np.full(n, 0.001), description=description)
    r = compare_runs(run, run)
    assert r.task is not None and r.task.kind == "regress"
    assert any("the guessed task detect could not judge" in note for note in r.task.notes)
    with pytest.raises(UserInputError, match="boxes are in pixels"):
        compare_runs(run, run, task=TaskRequest(kind="detect"))   # asked for: the user's to fix


def test_landmarks_say_when_the_layout_is_a_guess():
    ref = np.random.default_rng(3).uniform(0, 100, (5, 42))
    spec = resolve(TaskRequest(kind="landmarks"), [OutputInfo("v", (42,))], input_hw=(100, 100))
    t = judge(spec, {"v": ref}, {"v": ref + 1.0}, _ctx(5, input_size=(100, 100)))
    assert any("read as 21 points of 2 values" in n for n in t.notes)
    mesh = resolve(TaskRequest(kind="landmarks"), [OutputInfo("m", (1404,))], input_hw=(192, 192))
    flat = np.random.default_rng(4).uniform(0, 190, (5, 1404))
    assert not judge(mesh, {"m": flat}, {"m": flat}, _ctx(5, input_size=(192, 192))).notes   # a known mesh
