"""landmarks: the candidate's points against the float model's, sample by sample — mean error in input pixels,
normalised mean error (NME: by the inter-ocular distance for MediaPipe's 468/478-point face mesh, outer eye
corners 33 and 263; else by the float points' box size √(w·h); the report says which) and the failure rate
(samples with NME > 10 %). Paired bootstrap over samples.

With COCO keypoint annotations (``--annotations FILE``) both models are also judged against the labels — OKS AP
(``coco_keypoints``) — and ``oks_ap`` becomes the headline; the vs-float figures stay beside it.

The output's layout: (P, 2|3) when its shape says so, 3 values per point for the known meshes (468 and 478 face
points, 21 hand points), else 2; coordinates in input pixels unless every value lies in [−2, 2] (normalised)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgelite.core import bootstrap
from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import EvalContext, Outputs, SampleView, TaskFigures, TaskMetric, worst_first

FAILURE_NME = 0.10
EYE_CORNERS = {468: (33, 263), 478: (33, 263)}   # MediaPipe face mesh: right and left eye outer corners
THREE = {468 * 3, 478 * 3, 21 * 3}
VIEWS = 6


def points_of(a: np.ndarray) -> tuple[np.ndarray, int]:
    """(N, P, 2) x, y of a landmark output (N, ...), and the values per point it had."""
    a = np.asarray(a, np.float64)
    n = len(a)
    shape = a.shape[1:]
    size = int(np.prod(shape)) if shape else 1
    if len(shape) >= 2 and shape[-1] in (2, 3):
        per = shape[-1]
    elif size in THREE:
        per = 3
    elif size % 2 == 0:
        per = 2
    elif size % 3 == 0:
        per = 3
    else:
        raise UserInputError(f"a landmark output has x, y (or x, y, z) per point; {size} values per sample fit "
                             "neither")
    return a.reshape(n, -1, per)[..., :2], per


def _output(outputs: Outputs, name: str | None) -> str:
    if name is not None:
        return name
    # the output with the most values holds the points (face mesh: 1404 points beside a 1-value presence score)
    return max(outputs, key=lambda k: int(np.prod(np.shape(outputs[k])[1:] or (1,))))


def _presence(outputs: Outputs, points_output: str) -> str | None:
    """The output holding a presence score: the only one beside the points with one value per sample (face
    mesh's face flag); None when there is none or several (a hand model's presence and handedness)."""
    single = [k for k in outputs if k != points_output and int(np.prod(np.shape(outputs[k])[1:] or (1,))) == 1]
    return single[0] if len(single) == 1 else None


def judge(reference: Outputs, candidate: Outputs, ctx: EvalContext, *, output: str | None = None,
          candidate_output: str | None = None, basis: str = "", annotations: Path | None = None) -> TaskFigures:
    """The candidate's points against the float model's; with ``annotations`` (COCO keypoints) both sides'
    OKS AP against the labels too, as the headline."""
    name = _output(reference, output)
    ref, per = points_of(reference[name])
    cand, _ = points_of(candidate[candidate_output or name])
    scaled = bool(np.abs(ref).max(initial=0.0) <= 2.0)
    if ctx.input_size is None and scaled:
        raise UserInputError("landmark errors in pixels need the model's input size")
    scale = np.asarray(ctx.input_size, np.float64) if scaled and ctx.input_size is not None else np.ones(2)
    ref_px, cand_px = ref * scale, cand * scale
    err = np.linalg.norm(cand_px - ref_px, axis=-1)          # (N, P)
    points = ref.shape[1]
    if points in EYE_CORNERS:
        a, b = EYE_CORNERS[points]
        norm = np.linalg.norm(ref_px[:, a] - ref_px[:, b], axis=-1)
        normaliser = f"inter-ocular distance (points {a} and {b}, outer eye corners)"
    else:
        wh = ref_px.max(axis=1) - ref_px.min(axis=1)
        norm = np.sqrt(np.clip(wh[:, 0] * wh[:, 1], 0, None))
        normaliser = "the float points' box size √(w·h)"
    per_sample = err.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        nme = np.where(norm > 0, per_sample / np.where(norm > 0, norm, 1.0), np.nan)
    valid = np.isfinite(nme)
    n = len(per_sample)
    cand_cols = {"err": per_sample, "nme": np.where(valid, nme, 0.0), "fail": (valid & (nme > FAILURE_NME)) * 1.0,
                 "valid": valid * 1.0, "one": np.ones(n)}
    ideal = {"err": np.zeros(n), "nme": np.zeros(n), "fail": np.zeros(n), "valid": valid * 1.0, "one": np.ones(n)}
    metrics = {}
    for metric, fn in (("landmark_error_px", bootstrap.ratio("err", "one")),
                       ("landmark_nme", bootstrap.ratio("nme", "valid")),
                       ("landmark_failure_rate", bootstrap.ratio("fail", "valid"))):
        figs = bootstrap.paired_bootstrap(ideal, cand_cols, fn, resamples=ctx.resamples, seed=ctx.seed)
        metrics[metric] = TaskMetric.vs_reference(figs)
    worst = worst_first(ctx.ids, per_sample)
    index = {sid: i for i, sid in enumerate(ctx.ids)}
    size = np.asarray(ctx.input_size, np.float64) if ctx.input_size is not None else np.ones(2)
    views = [SampleView(w.id, w.loss, ref_px[index[w.id]] / size, cand_px[index[w.id]] / size)
             for w in worst[:VIEWS]]
    method = (f"output {name}: {points} points ({per} values each, x and y compared"
              f"{', normalised coordinates scaled to the input' if scaled else ', in input pixels'}); error = "
              f"distance to the float model's point, averaged per sample; NME by the {normaliser}; failure: "
              f"NME > {FAILURE_NME:.0%}; paired bootstrap over samples ({ctx.resamples} resamples, seed {ctx.seed})")
    headline, notes = "landmark_error_px", []
    shape = tuple(np.shape(reference[name])[1:])
    if not (len(shape) >= 2 and shape[-1] in (2, 3)) and points * per not in THREE:
        # a flat vector read as points by a rule, not by its shape: say so (a classifier's scores would pass too)
        notes.append(f"output {name} {list(shape)} read as {points} points of {per} values; if it is not a "
                     "landmark output, give --task for what it is")
    if annotations is not None:
        from edgelite.runtime.tasks import coco_keypoints

        if ctx.input_size is None:
            raise UserInputError("OKS AP maps the points to image pixels and needs the model's input size")
        presence = _presence(reference, name)
        scores: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
        if presence is not None and presence in candidate:
            scores = (np.asarray(reference[presence]).reshape(n), np.asarray(candidate[presence]).reshape(n))
        labelled = coco_keypoints.judge_labelled(
            Path(annotations), ctx, ref_px / size, cand_px / size, *scores,
            score_source=f"scored by output {presence}" if scores[0] is not None else "")
        metrics = {**labelled.metrics, **metrics}
        headline, notes = "oks_ap", [*notes, *labelled.notes]
        method = f"{labelled.method}; {method}"
    return TaskFigures(kind="landmarks", headline=headline, metrics=metrics, basis=basis, method=method,
                       notes=notes, worst=worst, details={"output": name, "points": points, "normaliser": normaliser},
                       views=views)
