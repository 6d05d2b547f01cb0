"""OKS AP with COCO keypoint annotations (runtime.tasks.coco_keypoints): faster-coco-eval's figures checked
against pycocotools, perfect and jittered predictions, the crop mapping, bad inputs as one line, and the whole
path through ``tasks.judge`` with a resolved landmarks spec."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks import coco_keypoints
from edgelite.runtime.tasks.base import EvalContext
from edgelite.runtime.tasks.judge import judge
from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, resolve

pytest.importorskip("faster_coco_eval")

INPUT = (192, 160)   # the model's input (width, height)


def synthetic(n: int, k: int, *, names: list[str] | None = None, persons: tuple[int, int] = (1, 1),
              seed: int = 0) -> dict:
    """A COCO keypoints file of ``n`` images of varied sizes, each with ``persons`` (min, max) objects of ``k``
    keypoints inside their bbox; some keypoints unlabelled (v 0) or hidden (v 1) when ``persons`` allows more
    than one (the comparison set), else all visible."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    varied = persons[1] > 1
    for i in range(n):
        w, h = int(rng.integers(200, 641)), int(rng.integers(150, 481))
        images.append({"id": 50 + i, "file_name": f"sub/img_{i:03d}.jpg", "width": w, "height": h})
        for _ in range(int(rng.integers(persons[0], persons[1] + 1))):
            bw, bh = rng.uniform(30, w / 2), rng.uniform(30, h / 2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            xs, ys = rng.uniform(x, x + bw, k), rng.uniform(y, y + bh, k)
            vs = rng.choice([0, 1, 2], k, p=[0.15, 0.15, 0.7]) if varied else np.full(k, 2)
            kps = np.stack([np.where(vs > 0, xs, 0), np.where(vs > 0, ys, 0), vs], axis=1).ravel()
            anns.append({"id": len(anns) + 1, "image_id": 50 + i, "category_id": 1, "bbox": [x, y, bw, bh],
                         "area": bw * bh * 0.7, "iscrowd": 0, "keypoints": kps.tolist(),
                         "num_keypoints": int((vs > 0).sum())})
    cat = {"id": 1, "name": "person", "keypoints": names or [f"p{j}" for j in range(k)]}
    return {"images": images, "annotations": anns, "categories": [cat]}


def write(tmp_path: Path, data: object, name: str = "kp.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def first_person(data: dict) -> list[np.ndarray]:
    """Each image's first object's (K, 2) labelled points in pixels."""
    out = []
    for im in data["images"]:
        ann = next(a for a in data["annotations"] if a["image_id"] == im["id"])
        out.append(np.asarray(ann["keypoints"], np.float64).reshape(-1, 3)[:, :2])
    return out


def to_input(data: dict, pixels: list[np.ndarray], crop: float = 1.0) -> np.ndarray:
    """(N, K, 2) points in the model's input pixels, from image pixels, through the central crop (whole pixels,
    as the preprocessing crops)."""
    out = []
    for im, xy in zip(data["images"], pixels, strict=True):
        w, h = im["width"], im["height"]
        cw, ch = max(1, round(w * crop)), max(1, round(h * crop))
        left, top = (w - cw) // 2, (h - ch) // 2
        out.append(np.stack([(xy[:, 0] - left) / cw * INPUT[0], (xy[:, 1] - top) / ch * INPUT[1]], axis=1))
    return np.stack(out)


def pycocotools_ap(data: dict, preds: list[np.ndarray], scores: list[float], sigmas: list[float]) -> tuple:
    """The reference evaluator's OKS AP@0.5:0.95 and AP@0.5 (area "all", its own 20-detection limit)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(data))
        gt.createIndex()
        results = [{"image_id": im["id"], "category_id": 1, "score": s,
                    "keypoints": np.concatenate([xy, np.ones((len(xy), 1))], axis=1).ravel().tolist()}
                   for im, xy, s in zip(data["images"], preds, scores, strict=True)]
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0], ev.stats[1]


@pytest.mark.parametrize("k, person", [(17, True), (5, False)])
def test_oks_ap_matches_pycocotools(tmp_path, k, person):
    pytest.importorskip("pycocotools")
    names = list(coco_keypoints.COCO_PERSON_KEYPOINTS) if person else None
    data = synthetic(25, k, names=names, persons=(0, 3), seed=k)
    truth = coco_keypoints.load_keypoints(write(tmp_path, data))
    assert truth.points == k
    assert truth.sigmas == (coco_keypoints.COCO_PERSON_SIGMAS if person else (coco_keypoints.UNIFORM_SIGMA,) * k)
    rng = np.random.default_rng(1)
    labels = [np.asarray(a["keypoints"], np.float64).reshape(-1, 3)[:, :2] for a in data["annotations"]]
    preds, scores = [], []
    for im in data["images"]:
        mine = [lab for lab, a in zip(labels, data["annotations"], strict=True) if a["image_id"] == im["id"]]
        base = mine[0] if mine else rng.uniform(0, 100, (k, 2))
        preds.append(base + rng.normal(0, rng.uniform(0.3, 5), base.shape))   # near-exact to off
        scores.append(float(rng.uniform(0.1, 1.0)))
    ours = coco_keypoints.oks_scores(truth, preds, scores)
    ref_ap, ref_ap50 = pycocotools_ap(data, preds, scores, list(truth.sigmas))
    assert 0.05 < ref_ap < 0.95   # a set where the ranking and the thresholds matter
    assert ours["oks_ap"] == pytest.approx(ref_ap, abs=1e-6)
    assert ours["oks_ap50"] == pytest.approx(ref_ap50, abs=1e-6)


@pytest.mark.parametrize("crop", [1.0, 0.75])
def test_labels_score_one_and_jitter_loses(tmp_path, crop):
    data = synthetic(40, 5, seed=3)
    path = write(tmp_path, data)
    ids = tuple(im["file_name"] for im in data["images"])
    labels = first_person(data)
    rng = np.random.default_rng(4)
    jittered = [xy + rng.normal(0, 12.0, xy.shape) for xy in labels]
    size = np.asarray(INPUT, np.float64)
    ctx = EvalContext(ids=ids, input_size=INPUT, resamples=60, seed=2, crop_fraction=crop)
    figs = coco_keypoints.judge_labelled(path, ctx, to_input(data, labels, crop) / size,
                                         to_input(data, jittered, crop) / size)
    for name in ("oks_ap", "oks_ap50"):
        m = figs.metrics[name]
        assert m.reference == pytest.approx(1.0)
        assert m.candidate is not None and m.candidate < 0.9
        assert m.delta == pytest.approx(m.candidate - m.reference, abs=1e-6)
        assert m.delta_ci95 is not None and m.delta_ci95[1] < 0
    assert "uniform sigma 0.025" in figs.method and "60 resamples" in figs.method
    # mapping back through the wrong crop moves every point: the labels no longer score 1
    wrong = EvalContext(ids=ids, input_size=INPUT, resamples=0, crop_fraction=0.5 if crop == 1.0 else 1.0)
    off = coco_keypoints.judge_labelled(path, wrong, to_input(data, labels, crop) / size,
                                        to_input(data, labels, crop) / size)
    assert off.metrics["oks_ap"].reference < 0.5


def one_line(excinfo: pytest.ExceptionInfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


def test_bad_inputs_are_one_line(tmp_path):
    data = synthetic(4, 5, seed=5)
    ids = tuple(im["file_name"] for im in data["images"])
    ctx = EvalContext(ids=ids, input_size=INPUT, resamples=0)
    pts = np.full((4, 5, 2), 0.5)
    path = write(tmp_path, data)
    with pytest.raises(UserInputError) as e:
        coco_keypoints.judge_labelled(path, ctx, np.full((4, 7, 2), 0.5), np.full((4, 7, 2), 0.5))
    assert "5 points" in one_line(e) and "gives 7" in one_line(e)
    short = json.loads(json.dumps(data))
    short["categories"][0]["keypoints"] = []   # no names: K comes from the first object, the rest must agree
    short["annotations"][1]["keypoints"] = short["annotations"][1]["keypoints"][:12]
    with pytest.raises(UserInputError) as e:
        coco_keypoints.judge_labelled(write(tmp_path, short, "s.json"), ctx, pts, pts)
    assert "has 4 keypoints but its category has 5" in one_line(e)
    ragged = json.loads(json.dumps(data))
    ragged["annotations"][0]["keypoints"] = ragged["annotations"][0]["keypoints"][:-1]
    with pytest.raises(UserInputError) as e:
        coco_keypoints.judge_labelled(write(tmp_path, ragged, "r.json"), ctx, pts, pts)
    assert "keypoints of 14 values" in one_line(e)
    vis = json.loads(json.dumps(data))
    vis["annotations"][2]["keypoints"][5] = 3
    with pytest.raises(UserInputError) as e:
        coco_keypoints.judge_labelled(write(tmp_path, vis, "v.json"), ctx, pts, pts)
    assert "visibility 3" in one_line(e)
    text = json.loads(json.dumps(data))
    text["annotations"][3]["keypoints"][0] = "x"
    with pytest.raises(UserInputError) as e:
        coco_keypoints.judge_labelled(write(tmp_path, text, "t.json"), ctx, pts, pts)
    assert "not a finite number" in one_line(e)
    two = json.loads(json.dumps(data))
    two["categories"].append({"id": 2, "name": "cat", "keypoints": ["a"]})
    two["annotations"][-1]["category_id"] = 2
    with pytest.raises(UserInputError) as e:
        coco_keypoints.judge_labelled(write(tmp_path, two, "c.json"), ctx, pts, pts)
    assert "2 categories" in one_line(e)
    with pytest.raises(UserInputError) as e:   # --annotations with a task that reads no COCO file
        resolve(TaskRequest(kind="segment", annotations=path), [OutputInfo("seg", (8, 8, 4))])
    assert "task is segment" in one_line(e)


def test_end_to_end_through_judge(tmp_path):
    data = synthetic(30, 6, seed=7)
    path = write(tmp_path, data)
    ids = tuple(im["file_name"] for im in data["images"])
    labels = to_input(data, first_person(data))
    n = len(ids)
    good = np.arange(n) < n // 2
    far = labels + np.asarray(INPUT, np.float64) * 0.3          # OKS ≈ 0 at every threshold
    cand = np.where(good[:, None, None], labels, far)
    outs = [OutputInfo("landmarks", (6, 3)), OutputInfo("presence", (1,))]
    spec = resolve(TaskRequest(kind="landmarks", annotations=path, resamples=40), outs, input_hw=INPUT[::-1])
    assert spec.kind == "landmarks" and spec.annotations == path
    ctx = EvalContext(ids=ids, input_size=spec.input_size, resamples=spec.resamples, seed=1)

    def outputs(points: np.ndarray, presence: np.ndarray) -> dict[str, np.ndarray]:
        # x, y and a z per point (P, 3), as a 3-D landmark output gives them
        z = np.zeros(points.shape[:2] + (1,))
        return {"landmarks": np.concatenate([points, z], axis=2),
                "presence": presence.reshape(n, 1).astype(np.float32)}

    # the presence output ranks the candidate's good images first: AP ≈ the recall they reach (0.5)
    figs = judge(spec, outputs(labels, np.ones(n)), outputs(cand, good * 1.0), ctx)
    assert figs.headline == "oks_ap"
    m = figs.metrics["oks_ap"]
    assert m.reference == pytest.approx(1.0) and m.candidate == pytest.approx(0.5, abs=0.02)
    assert m.delta_ci95 is not None and m.delta_ci95[1] < 0
    assert figs.metrics["landmark_error_px"].candidate > 0   # the vs-float figures stay beside it
    assert "scored by output presence" in figs.method and "landmarks" in figs.method
    assert figs.headline_line().startswith("landmarks: OKS AP@0.5:0.95 50")
    # ranked the other way (bad images first) the same points lose more: the score is used
    worse = judge(spec, outputs(labels, np.ones(n)), outputs(cand, 1.0 - good), ctx)
    assert worse.metrics["oks_ap"].candidate < 0.35
    # without annotations the headline is the vs-float error, and no OKS figure appears
    plain = resolve(TaskRequest(kind="landmarks", resamples=0), outs, input_hw=INPUT[::-1])
    bare = judge(plain, outputs(labels, np.ones(n)), outputs(cand, good * 1.0), ctx)
    assert bare.headline == "landmark_error_px" and "oks_ap" not in bare.metrics
