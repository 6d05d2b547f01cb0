"""detect: decode both models' outputs with the model's decoder (``runtime.decoders.select``), then judge the
candidate's detections against the float model's own (``runtime.detection_metrics``: detections kept, added per
image, matched IoU, score drift, keypoint error) and, with COCO annotations, both against the labels
(``runtime.tasks.coco``: mAP@0.5:0.95, mAP@0.5, AR@100 and their paired differences).

Headline: mAP@0.5:0.95 with annotations, else detections kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from edgelite.runtime.detection_metrics import Detections, detection_figures, per_image_parts
from edgelite.runtime.tasks.base import EvalContext, Outputs, SampleView, TaskFigures, worst_first

if TYPE_CHECKING:
    from edgelite.runtime.decoders.select import DetectorDecoder
    from edgelite.runtime.tasks.spec import TaskSpec

VIEWS = 6   # worst images drawn in the HTML page


def decode(decoder: DetectorDecoder, reference: Outputs, candidate: Outputs
           ) -> tuple[list[Detections], list[Detections]]:
    """Both runs' detections, image by image (candidate outputs read by the reference's names: ``judge``'s
    caller renames them)."""
    return decoder.decode_all(reference), decoder.decode_all(candidate)


def judge(spec: TaskSpec, reference: Outputs, candidate: Outputs, ctx: EvalContext) -> TaskFigures:
    assert spec.decoder is not None   # resolve() refuses a detect task without one
    ref_dets, cand_dets = decode(spec.decoder, reference, candidate)
    figs = detection_figures(ref_dets, cand_dets, input_size=ctx.input_size, resamples=ctx.resamples,
                             seed=ctx.seed)
    metrics = dict(figs.metrics())
    parts = per_image_parts(ref_dets, cand_dets, ctx.input_size)
    loss = (parts["float_boxes"] - parts["matched"]) + parts["added"]   # lost + added, per image
    headline = "detections_kept"
    method = (f"{spec.decoder.describe()}; the int8 boxes matched one-to-one to the float model's at IoU ≥ "
              f"{figs.iou_threshold} (greedy, highest IoU first); paired percentile bootstrap over images "
              f"({ctx.resamples} resamples, seed {ctx.seed})")
    details: dict[str, object] = {"images": figs.images, "reference_boxes": figs.reference_boxes,
                                  "candidate_boxes": figs.candidate_boxes, "matched": figs.matched}
    notes: list[str] = []
    if spec.annotations is not None:
        from edgelite.runtime.tasks import coco

        labelled = coco.judge_labelled(spec.annotations, ctx, ref_dets, cand_dets)
        metrics.update(labelled.metrics)
        details["per_class_ap"] = labelled.per_class_ap
        notes.extend(labelled.notes)
        headline = "map50_95"
        method += f"; against {spec.annotations}: {labelled.method}"
    worst = worst_first(ctx.ids, loss)
    index = {sid: i for i, sid in enumerate(ctx.ids)}
    views = [SampleView(w.id, w.loss, ref_dets[index[w.id]], cand_dets[index[w.id]]) for w in worst[:VIEWS]]
    if figs.reference_boxes == 0:
        notes.append("the float model found nothing on these images: detections kept is undefined; give images "
                     "with objects")
    return TaskFigures(kind="detect", headline=headline, metrics=metrics, basis=spec.basis, method=method,
                       notes=notes, worst=worst, details=details, views=views)


def summary(dets: Detections) -> str:
    """One image's detections in one line (for notes and ``run``)."""
    if not len(dets.boxes):
        return "no detections"
    best = int(np.argmax(dets.scores))
    return f"{len(dets.boxes)} detection(s), best score {dets.scores[best]:.3f}"
