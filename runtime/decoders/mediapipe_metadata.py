"""MediaPipe's object-detector metadata (the ``DETECTOR_METADATA`` custom metadata of a ``TFLITE_METADATA``
entry, schema ``mediapipe/tasks/metadata/object_detector_metadata_schema.fbs``) as edgelite's SSD decoder record.

The schema carries fixed anchors and part of ``TensorsToDetectionsCalculatorOptions``; the rest is what
MediaPipe's ObjectDetector sets itself for such a file (detection_postprocessing_graph): boxes read y, x, h, w
(``box_format: YXHW``, i.e. ``reverse_output_order = false``), no score clipping, NMS by IoU with the DEFAULT
(greedy) algorithm at 0.3. The score threshold is a task option there (unset: every box); edgelite takes the
score tensor's ``ScoreThresholdingOptions`` when the file has one, else ``DEFAULT_MIN_SCORE``.

Read with edgelite's bounded flatbuffer view (no MediaPipe import: this runs on the board).
"""

from __future__ import annotations

import math
from struct import error as struct_error
from typing import Any

from edgelite.core.errors import UserInputError
from edgelite.runtime.flatbuf import CorruptFlatbuffer, View

NAME = "DETECTOR_METADATA"
SOURCE = "the file's MediaPipe detector metadata"
MAX_BYTES = 4 * 1024 * 1024   # 100k anchors are ~3 MB of tables; a bigger entry is not detector options
MAX_ANCHORS = 100_000
DEFAULT_MIN_SCORE = 0.5       # MediaPipe's face detector default; its ObjectDetector leaves it to the caller
NMS = {"min_suppression_threshold": 0.3, "overlap_type": "INTERSECTION_OVER_UNION", "algorithm": "DEFAULT"}

# Field slots, in the schema's declaration order.
_OPTIONS_SSD, _OPTIONS_DECODING = 1, 2                       # ObjectDetectorOptions (0: min_parser_version)
_SSD_FIXED = 0                                               # SsdAnchorsOptions.fixed_anchors_schema
_FIXED_ANCHORS = 0                                           # FixedAnchorsSchema.anchors
_ANCHOR_FIELDS = ("x_center", "y_center", "width", "height")  # FixedAnchor, all float
_DECODING_FIELDS: tuple[tuple[str, str], ...] = (           # TensorsDecodingOptions
    ("num_classes", "i"), ("num_boxes", "i"), ("num_coords", "i"), ("keypoint_coord_offset", "i"),
    ("num_keypoints", "i"), ("num_values_per_keypoint", "i"), ("x_scale", "f"), ("y_scale", "f"),
    ("w_scale", "f"), ("h_scale", "f"), ("apply_exponential_on_box_size", "?"), ("sigmoid_score", "?"),
)


def decoder_record(data: bytes, where: str, min_score: float | None = None) -> dict[str, Any]:
    """The ``ssd`` decoder record (``select.from_record``'s form) of one ``DETECTOR_METADATA`` buffer, validated;
    a malformed buffer is one ``UserInputError`` line naming ``where``."""
    what = f"{where}: MediaPipe detector metadata ({NAME})"
    if len(data) > MAX_BYTES:
        raise UserInputError(f"{what} is {len(data):,} bytes, over the {MAX_BYTES:,}-byte cap; re-create the model "
                             "or strip its metadata")
    try:
        record = _parse(bytes(data), what)
    except (CorruptFlatbuffer, struct_error, IndexError, ValueError, OverflowError, RecursionError, TypeError) as exc:
        # whatever a hostile buffer makes the reader trip on, said as the file's fault
        raise UserInputError(f"{what} is corrupt ({exc}); re-create the model or strip its metadata") from None
    record["decode"]["min_score_thresh"] = float(DEFAULT_MIN_SCORE if min_score is None else min_score)
    from edgelite.runtime.decoders.config import config_from_dict

    config_from_dict({k: v for k, v in record.items() if k != "kind"}, what)   # the same checks as a decoder file
    return record


def _parse(buf: bytes, what: str) -> dict[str, Any]:
    root = View.root(buf)
    ssd, decoding = root.table(_OPTIONS_SSD), root.table(_OPTIONS_DECODING)
    fixed = ssd.table(_SSD_FIXED) if ssd is not None else None
    if fixed is None or decoding is None:
        missing = "tensors_decoding_options" if decoding is None else "ssd_anchors_options.fixed_anchors_schema"
        raise UserInputError(f"{what} has no {missing}; MediaPipe needs both to decode the model")
    span = fixed.vector(_FIXED_ANCHORS, 4)
    count = 0 if span is None else span[1]
    if count > MAX_ANCHORS:
        raise UserInputError(f"{what} lists {count:,} anchors, over the cap of {MAX_ANCHORS:,}")
    anchors: list[list[float]] = []
    for view in fixed.iter_tables(_FIXED_ANCHORS):
        anchor = [float(view.scalar(slot, "f", 0.0)) for slot in range(len(_ANCHOR_FIELDS))]
        if not all(math.isfinite(v) for v in anchor):
            raise UserInputError(f"{what}: anchor {len(anchors)} is not finite ({anchor})")
        anchors.append(anchor)
    decode: dict[str, Any] = {}
    for slot, (key, fmt) in enumerate(_DECODING_FIELDS):
        value = decoding.scalar(slot, fmt, 0)
        decode[key] = bool(value) if fmt == "?" else float(value) if fmt == "f" else int(value)
    # What MediaPipe's ObjectDetector sets for every such file (the schema has no field for them).
    decode.update(box_coord_offset=0, reverse_output_order=False)
    return {"kind": "ssd", "fixed_anchors": anchors, "decode": decode, "nms": dict(NMS)}


def score_threshold(meta: Any) -> float | None:
    """The first output tensor's ``ScoreThresholdingOptions.global_score_threshold``, if the file has one."""
    from edgelite.runtime import metadata_schema as ms

    for sub in meta.subgraph_metadata or ():
        for tensor in sub.output_tensor_metadata or ():
            for unit in tensor.process_units or ():
                if isinstance(unit.options, ms.ScoreThresholdingOptions) and \
                        unit.options.global_score_threshold is not None:
                    return float(unit.options.global_score_threshold)
    return None


def task_from_metadata(meta: Any, where: str) -> dict[str, Any] | None:
    """``{"kind": "detect", "decoder": record, "source": SOURCE}`` when a decoded ``TFLITE_METADATA``
    (``metadata_schema.ModelMetadata``) has ``DETECTOR_METADATA``, else None."""
    for sub in meta.subgraph_metadata or ():
        for custom in sub.custom_metadata or ():
            if custom.name == NAME:
                try:
                    record = decoder_record(custom.data or b"", where, score_threshold(meta))
                except UserInputError as exc:
                    # a broken decoder must not stop what needs no decoder (inspect, run's outputs): the
                    # detect task refuses it when it decodes (select.from_record)
                    return {"kind": "detect", "decoder": {"kind": "invalid", "error": str(exc)}, "source": SOURCE}
                return {"kind": "detect", "decoder": record, "source": SOURCE}
    return None

