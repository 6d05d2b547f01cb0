"""landmarks with COCO keypoint annotations: both models' points judged against the labels — OKS AP@0.5:0.95
(``oks_ap``) and OKS AP@0.5 (``oks_ap50``) for the float model (reference) and the int8 model (candidate), their
differences, and paired percentile bootstrap 95 % intervals of the differences over images.

Evaluator: faster-coco-eval (``COCOeval_faster``, iouType ``keypoints``), which gives pycocotools' figures (a test
checks them against pycocotools itself). OKS per keypoint uses COCO's 17 person sigmas when the category names
COCO's 17 person keypoints, else one uniform sigma (``UNIFORM_SIGMA``) for every point; the method line says which.
Only COCO's "all" area range is evaluated.

Annotations: a COCO keypoints JSON file (``categories[].keypoints`` names, ``annotations[]`` with ``keypoints``
[x, y, v] × K in image pixels, ``bbox``, ``area``, ``num_keypoints``), read, bounded and matched to the evaluation
samples by file name with ``coco``'s readers (the same rules as the box annotations). The annotations must name
one category (a landmark model predicts one kind of object); K is its keypoint count and must equal the model's
point count P. A labelled object with no visible keypoint (``num_keypoints`` 0) is ignored, as COCO does.

Predictions: one per image — the model's P points, in input pixels, mapped back to image pixels through the
central ``crop_fraction`` crop the model saw (``coco.crop_window``, as boxes are). Their score ranks images in the
AP curve: a presence output (one value per sample, the only one beside the points) when the model has one, else
1.0 for every image (ties then rank in image order, which is how COCO's evaluator breaks them).

Bootstrap: as ``coco.judge_labelled`` — each resample draws the annotated images with replacement (the same
draws for both sides; a repeated image gets a fresh id so it counts twice), rebuilds both evaluations and
recomputes both figures; at most ``coco.MAP_RESAMPLES`` resamples.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks import coco, coco_annotations
from edgelite.runtime.tasks.base import EvalContext, TaskMetric

METRIC_NAMES = ("oks_ap", "oks_ap50")
UNIFORM_SIGMA = 0.025   # per-point OKS sigma for non-COCO-person keypoints: about COCO's eye/nose sigmas
COCO_PERSON_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
                         "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip",
                         "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
# COCO's per-keypoint sigmas (Ruggero Ronchi's OKS study), in COCO_PERSON_KEYPOINTS order
COCO_PERSON_SIGMAS = tuple(s / 10.0 for s in (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62,
                                              1.07, 1.07, 0.87, 0.87, 0.89, 0.89))
VISIBILITY = (0, 1, 2)   # COCO: not labelled, labelled but hidden, labelled and visible


@dataclass(frozen=True)
class KeypointTruth:
    """The keypoint annotations, checked: ``gt`` holds per image its objects' COCO fields (bbox, area,
    iscrowd, category_id, keypoints, num_keypoints); the one category's id, keypoint names (may be empty when
    the file gives none), K, and the OKS sigmas with the rule that chose them."""

    gt: coco_annotations.GroundTruth
    category_id: int
    keypoint_names: tuple[str, ...]
    points: int
    sigmas: tuple[float, ...]
    sigma_rule: str


@dataclass(frozen=True)
class KeypointFigures:
    """What ``landmarks`` adds with annotations: the metrics by name, notes, and the method in one line."""

    metrics: dict[str, TaskMetric]
    notes: list[str] = field(default_factory=list)
    method: str = ""


# --- reading the annotations -------------------------------------------------------------------------------------

def _keypoints(path: Path, aid: object, raw: object, points: int | None) -> tuple[list[float], int]:
    """An annotation's keypoints checked: [x, y, v] × K numbers with v in {0, 1, 2}; and its visible count."""
    if not isinstance(raw, list) or not raw or len(raw) % 3:
        what = f"keypoints of {len(raw)} values" if isinstance(raw, list) else "no keypoints list"
        raise UserInputError(f"{path}: annotation {aid} has {what}; COCO keypoints are [x, y, v] per point (a "
                             "multiple of 3 numbers)")
    if points is not None and len(raw) != 3 * points:
        raise UserInputError(f"{path}: annotation {aid} has {len(raw) // 3} keypoints but its category has "
                             f"{points}; give every object all of the category's keypoints ([x, y, v] each)")
    values = [coco_annotations.finite_number(v) for v in raw]
    if any(v is None for v in values):
        raise UserInputError(f"{path}: annotation {aid} has a keypoint value that is not a finite number")
    vis = values[2::3]
    if any(v not in VISIBILITY for v in vis):
        bad = next(v for v in vis if v not in VISIBILITY)
        raise UserInputError(f"{path}: annotation {aid} has keypoint visibility {bad:g}; COCO's v is 0 (not "
                             "labelled), 1 (hidden) or 2 (visible)")
    return [float(v) for v in values], sum(1 for v in vis if v)  # type: ignore[arg-type]


def _sigmas(names: tuple[str, ...], points: int) -> tuple[tuple[float, ...], str]:
    if names == COCO_PERSON_KEYPOINTS:
        return COCO_PERSON_SIGMAS, "COCO's 17 person keypoint sigmas"
    return (UNIFORM_SIGMA,) * points, f"a uniform sigma {UNIFORM_SIGMA} per point (not COCO's person keypoints)"


def load_keypoints(path: Path) -> KeypointTruth:
    """The keypoints file, read and checked (one-line ``UserInputError`` naming the file and the fix)."""
    path = Path(path)
    data = coco_annotations.read_json(path)
    category_ids, _ = coco_annotations.read_categories(path, data["categories"])
    images = coco_annotations.read_images(path, data["images"])
    raw_cats = {coco_annotations.int_id(c.get("id")): c for c in data["categories"]}
    per_image: dict[int, list[dict[str, Any]]] = {iid: [] for iid in images}
    used: set[int] = set()
    points: int | None = None
    names: tuple[str, ...] = ()
    for i, ann in enumerate(data["annotations"]):
        iid, box = coco_annotations.read_box(path, i, ann, images, set(category_ids))
        cid = int(box["category_id"])
        if cid not in used:
            used.add(cid)
            if len(used) > 1:
                raise UserInputError(f"{path}: the annotations name {len(used)} categories ({sorted(used)}); a "
                                     "landmark model predicts one object's points: keep one category")
            listed = raw_cats[cid].get("keypoints")
            if isinstance(listed, list) and listed:
                names = tuple(str(n) for n in listed)
                points = len(names)
        aid = ann.get("id", f"#{i}")
        kps, visible = _keypoints(path, aid, ann.get("keypoints"), points)
        points = len(kps) // 3
        per_image[iid].append({**box, "keypoints": kps, "num_keypoints": visible})
    if points is None:
        raise UserInputError(f"{path}: no annotations with keypoints; give COCO keypoint annotations "
                             "(annotations[].keypoints [x, y, v] per point)")
    sigmas, rule = _sigmas(names, points)
    order = list(images)
    gt = coco_annotations.GroundTruth(path=path, file_names=tuple(images[i][0] for i in order),
                          sizes=tuple((images[i][1], images[i][2]) for i in order),
                          boxes=tuple(tuple(per_image[i]) for i in order), category_ids=category_ids,
                          category_names=tuple(str(raw_cats[c].get("name", c)) for c in category_ids))
    return KeypointTruth(gt=gt, category_id=next(iter(used)), keypoint_names=names, points=points, sigmas=sigmas,
                         sigma_rule=rule)


# --- points → image pixels ---------------------------------------------------------------------------------------

def points_to_pixels(points: np.ndarray, width: float, height: float, crop_fraction: float = 1.0) -> np.ndarray:
    """(P, 2) x, y normalised to the model's input → (P, 2) x, y in image pixels (through the crop it saw)."""
    left, top, cw, ch = coco.crop_window(width, height, crop_fraction)
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return np.stack([left + p[:, 0] * cw, top + p[:, 1] * ch], axis=1)


# --- OKS evaluation ----------------------------------------------------------------------------------------------

def _datasets(truth: KeypointTruth, preds: Sequence[np.ndarray], scores: Sequence[float],
              order: Sequence[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """COCO ground-truth and result datasets over the images ``order`` (indices into ``truth.gt``, repeats
    allowed): image ``k`` of the order gets id ``k + 1`` so a repeated image is a new image; annotation ids start
    at 1 (COCOeval reads 0 as "unmatched"). ``preds[j]``: image j's (K, 2) points in pixels."""
    images, gt_anns = coco.resampled_truth(truth.gt, order)
    dt_anns: list[dict[str, Any]] = []
    for k, j in enumerate(order):
        xy = preds[j]
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        # the evaluator reads only x and y of a prediction's keypoints; v = 1 keeps the COCO layout
        kps = np.concatenate([xy, np.ones((len(xy), 1))], axis=1).ravel().tolist()
        dt_anns.append({"id": len(dt_anns) + 1, "image_id": k + 1, "category_id": truth.category_id,
                        "keypoints": kps, "score": float(scores[j]), "iscrowd": 0,
                        "bbox": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
                        "area": float((hi[0] - lo[0]) * (hi[1] - lo[1]))})
    categories = [{"id": truth.category_id, "name": "object", "keypoints": list(truth.keypoint_names)}]
    return ({"images": images, "annotations": gt_anns, "categories": categories},
            {"images": images, "annotations": dt_anns, "categories": categories})


def oks_scores(truth: KeypointTruth, preds: Sequence[np.ndarray], scores: Sequence[float],
               order: Sequence[int] | None = None) -> dict[str, float]:
    """One side's OKS AP@0.5:0.95 and AP@0.5 over the images ``order`` (default: all); NaN where undefined (no
    labelled object with a visible keypoint)."""
    coco_cls, eval_cls = coco._evaluator()
    order = range(len(truth.gt.file_names)) if order is None else order
    gt_data, dt_data = _datasets(truth, preds, scores, order)
    with contextlib.redirect_stdout(io.StringIO()):   # its prints must not land in a JSON report on stdout
        coco_gt, coco_dt = coco_cls(gt_data, print_function=coco._quiet), coco_cls(dt_data, print_function=coco._quiet)
        ev = eval_cls(coco_gt, coco_dt, "keypoints", kpt_oks_sigmas=list(truth.sigmas), print_function=coco._quiet)
        ev.params.areaRng, ev.params.areaRngLbl = [[0.0, 1e5**2]], ["all"]
        ev.evaluate()
        ev.accumulate()
    p = ev.params
    precision = np.asarray(ev.eval["precision"])[:, :, :, p.areaRngLbl.index("all"), -1]   # (OKS, recall, cat)
    at50 = int(np.argmin(np.abs(np.asarray(p.iouThrs) - 0.5)))
    return {"oks_ap": coco._mean_defined(precision), "oks_ap50": coco._mean_defined(precision[at50])}


# --- the judge ----------------------------------------------------------------------------------------------------

def judge_labelled(path: Path, ctx: EvalContext, ref_points: np.ndarray, cand_points: np.ndarray,
                   ref_scores: np.ndarray | None = None, cand_scores: np.ndarray | None = None,
                   score_source: str = "") -> KeypointFigures:
    """Both models' points against the COCO keypoints in ``path``: OKS AP@0.5:0.95 and AP@0.5 of each side, their
    differences with paired bootstrap intervals over the annotated images.

    ``ref_points``/``cand_points``: (N, P, 2) x, y normalised to the model's input (0…1 across it), one row per
    sample of ``ctx.ids``; ``*_scores``: (N,) presence scores (None: 1.0 each), ``score_source`` naming them."""
    ref_points, cand_points = np.asarray(ref_points, np.float64), np.asarray(cand_points, np.float64)
    if not len(ref_points) == len(cand_points) == len(ctx.ids):
        raise ValueError(f"{len(ctx.ids)} sample ids but {len(ref_points)} reference and {len(cand_points)} "
                         "candidate point sets")
    coco._evaluator()   # a missing evaluator is said before the file is read
    truth = load_keypoints(Path(path))
    model_points = ref_points.shape[1]
    if model_points != truth.points:
        raise UserInputError(f"{path}: its keypoints have {truth.points} points per object but the model gives "
                             f"{model_points}; give annotations with the model's points, in its order")
    pairs, unlisted = coco_annotations.match_samples(ctx.ids, truth.gt, subset=ctx.subset)
    notes: list[str] = []
    if unlisted:
        notes.append(f"{len(unlisted)} of the {len(ctx.ids)} evaluation images have no entry in {path} "
                     f"(e.g. {unlisted[0]!r}) and are left out of OKS AP")
    sub = KeypointTruth(
        gt=truth.gt.taking([j for _, j in pairs]), category_id=truth.category_id,
        keypoint_names=truth.keypoint_names, points=truth.points,
        sigmas=truth.sigmas, sigma_rule=truth.sigma_rule)
    sizes = sub.gt.sizes
    ref_px = [points_to_pixels(ref_points[i], *sizes[k], ctx.crop_fraction) for k, (i, _) in enumerate(pairs)]
    cand_px = [points_to_pixels(cand_points[i], *sizes[k], ctx.crop_fraction) for k, (i, _) in enumerate(pairs)]
    ones = np.ones(len(ctx.ids))
    r_sc = [float(v) for v in (ones if ref_scores is None else np.asarray(ref_scores, np.float64).ravel())]
    c_sc = [float(v) for v in (ones if cand_scores is None else np.asarray(cand_scores, np.float64).ravel())]
    r_sc, c_sc = [r_sc[i] for i, _ in pairs], [c_sc[i] for i, _ in pairs]
    ref, cand = oks_scores(sub, ref_px, r_sc), oks_scores(sub, cand_px, c_sc)
    n = len(pairs)
    resamples = min(max(ctx.resamples, 0), coco.MAP_RESAMPLES)
    deltas = coco.resampled_deltas(n, resamples, ctx.seed, METRIC_NAMES, lambda order: (
        oks_scores(sub, ref_px, r_sc, order), oks_scores(sub, cand_px, c_sc, order)))
    metrics = {name: TaskMetric.of(ref[name], cand[name], cand[name] - ref[name],
                                   coco._interval(deltas[name]) if resamples else None) for name in METRIC_NAMES}
    if not any(obj["num_keypoints"] for objs in sub.gt.boxes for obj in objs if not obj["iscrowd"]):
        notes.append(f"{path} has no visible keypoints on the evaluation images: OKS AP is undefined")
    capped = (f" (capped at {coco.MAP_RESAMPLES} of the {ctx.resamples} asked)"
              if ctx.resamples > coco.MAP_RESAMPLES else "")
    score = score_source or "score 1.0 for every image"
    method = (f"faster-coco-eval {coco._version()} COCO keypoint evaluation (OKS 0.50:0.95, {truth.points} "
              f"points, {truth.sigma_rule}; one prediction per image, {score}; points mapped to image pixels "
              f"through the central {ctx.crop_fraction:g} crop) on {n} annotated images; paired percentile "
              f"bootstrap over images, {resamples} resamples{capped}, seed {ctx.seed}")
    return KeypointFigures(metrics=metrics, notes=notes, method=method)
