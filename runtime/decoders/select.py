"""Which decoder turns a detector's outputs into boxes: one choice, made once per model and recorded in the file,
so ``run``, ``compare``, ``check`` and ``serve`` decode alike.

* ``ssd``: SSD-anchor heads (BlazeFace-style face and palm detectors): a decoder file (``--decoder FILE``, the
  MediaPipe option names) or the same tables recorded in the file's edgelite entry;
* ``postprocess``: a model that ends in ``TFLite_Detection_PostProcess`` (boxes [N, 4] ymin, xmin, ymax, xmax,
  classes [N], scores [N], count []);
* ``yolo``: one dense head [4+C, N] or [N, 4+C] (cx, cy, w, h, then class scores) with per-class NMS.

``DetectorDecoder.decode_all`` takes a run's outputs (output name → (N, ...) arrays, the batch axis dropped)
and gives one ``Detections`` per sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.decoders.detection import DetectionArrays
from edgelite.runtime.detection_metrics import Detections

# The edgelite metadata entry's provenance key the decoder is recorded under.
RECORD_KEY = "decoder"
# TFLite_Detection_PostProcess caps its own output (max_detections); 10 000 rows is far beyond any real export.
POSTPROCESS_MAX_ROWS = 10_000
YOLO_MIN_CANDIDATES = 1000


def to_detections(d: DetectionArrays) -> Detections:
    """A decoder's arrays as the metrics' record (keypoints only when the decoder gives any)."""
    kp = d.keypoints if d.keypoints.ndim == 3 and d.keypoints.shape[1] > 0 else None
    return Detections(boxes=d.boxes, scores=d.scores, keypoints=kp, classes=d.class_ids)


@dataclass(frozen=True)
class DetectorDecoder:
    """One detector's decoder bound to its output names. ``kind`` is ``ssd``, ``postprocess`` or ``yolo``;
    ``record`` is what the file keeps of it (``RECORD_KEY``); ``source`` names where it came from."""

    kind: str
    outputs: tuple[str, ...]          # the output names it reads, in the order it reads them
    record: dict[str, Any]
    source: str
    _decode: Any

    def decode_one(self, outputs: Mapping[str, np.ndarray], i: int) -> Detections:
        """Sample ``i``'s detections."""
        return to_detections(self._decode(*(np.asarray(outputs[name][i]) for name in self.outputs)))

    def decode_all(self, outputs: Mapping[str, np.ndarray]) -> list[Detections]:
        """One ``Detections`` per sample of a run's outputs."""
        n = len(next(iter(outputs.values())))
        return [self.decode_one(outputs, i) for i in range(n)]

    def describe(self) -> str:
        return f"{self.kind} decoder ({self.source})"


def _ssd(tables: dict[str, Any], names: Sequence[str], shapes: Sequence[tuple[int, ...]], source: str
         ) -> DetectorDecoder:
    from edgelite.runtime.decoders.config import check_fits, config_from_dict

    config = config_from_dict(tables, source)
    boxes_i, scores_i = check_fits(config, [(1, *s) for s in shapes], source)
    decoder = config.decoder()

    def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray) -> DetectionArrays:
        return decoder(raw_boxes[None], raw_scores[None])

    return DetectorDecoder("ssd", (names[boxes_i], names[scores_i]), {"kind": "ssd", **tables}, source, decode)


def postprocess_order(names: Sequence[str], shapes: Sequence[tuple[int, ...]]) -> tuple[int, int, int, int] | None:
    """Indices of (boxes, classes, scores, count) when the outputs are ``TFLite_Detection_PostProcess``'s: [N, 4],
    [N], [N], [] per sample, in any order (TF's converter may list a Keras model's outputs shuffled). The two [N]
    outputs are told apart by name ("class", "score"), else taken in the op's own order."""
    if len(shapes) != 4:
        return None
    boxes = [i for i, s in enumerate(shapes) if len(s) == 2 and s[1] == 4]
    if len(boxes) != 1:
        return None
    n = shapes[boxes[0]][0]
    rows = [i for i, s in enumerate(shapes) if s == (n,) and i != boxes[0]]
    count = [i for i, s in enumerate(shapes) if s in ((), (1,)) and i not in rows and i != boxes[0]]
    if len(rows) != 2 or len(count) != 1:
        return None
    a, b = rows
    named = [i for i in rows if "score" in names[i].lower()]
    if len(named) == 1:
        scores = named[0]
        classes = b if scores == a else a
    else:
        classes, scores = a, b
    return boxes[0], classes, scores, count[0]


def postprocess_outputs(shapes: Sequence[tuple[int, ...]], names: Sequence[str] | None = None) -> bool:
    """Whether the outputs look like ``TFLite_Detection_PostProcess``'s (see ``postprocess_order``)."""
    return postprocess_order(list(names) if names is not None else [""] * len(shapes), shapes) is not None


def _postprocess(names: Sequence[str], shapes: Sequence[tuple[int, ...]], source: str, min_score: float,
                 roles: Sequence[str] | None = None) -> DetectorDecoder:
    """``roles``: the outputs' names in the file's TFLite metadata ("location", "category", "score", "number of
    detections"), in output order — what tells classes from scores when the tensors' own names do not."""
    named = list(roles) if roles is not None and len(roles) == len(names) and all(isinstance(r, str) for r in roles) \
        else None
    order = postprocess_order(named or names, shapes)
    assert order is not None   # the callers checked the shapes
    if shapes[order[0]][0] > POSTPROCESS_MAX_ROWS:
        raise UserInputError(f"{source}: {shapes[order[0]][0]} post-processed detections per image; at most "
                             f"{POSTPROCESS_MAX_ROWS} are read")

    def decode(boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, count: np.ndarray) -> DetectionArrays:
        k = int(np.clip(np.asarray(count).reshape(-1)[0] if np.size(count) else len(scores), 0, len(scores)))
        keep = np.flatnonzero(np.asarray(scores[:k], np.float32) >= min_score)
        yxyx = np.asarray(boxes, np.float32)[keep]
        xyxy = yxyx[:, [1, 0, 3, 2]]   # the op writes ymin, xmin, ymax, xmax
        return DetectionArrays(xyxy, np.asarray(scores, np.float32)[keep],
                               np.asarray(classes)[keep].astype(np.int64), np.zeros((len(keep), 0, 2), np.float32))

    record: dict[str, Any] = {"kind": "postprocess", "min_score": min_score}
    if named is not None:
        record["names"] = named
    return DetectorDecoder("postprocess", tuple(names[i] for i in order), record, source, decode)


def yolo_output(shapes: Sequence[tuple[int, ...]]) -> bool:
    """One output [4+C, N] or [N, 4+C] with many more candidates than channels (YOLOv8/11 exports: 8400 at 640
    px, 2100 at 320); fewer than ``YOLO_MIN_CANDIDATES`` rows are rather frames or tokens than candidates."""
    if len(shapes) != 1 or len(shapes[0]) != 2:
        return False
    a, b = shapes[0]
    small, big = min(a, b), max(a, b)
    return 5 <= small <= 1024 and big >= max(8 * small, YOLO_MIN_CANDIDATES)


def _yolo(record: dict[str, Any], names: Sequence[str], input_hw: tuple[int, int] | None, source: str
          ) -> DetectorDecoder:
    from edgelite.runtime.decoders.yolo import YoloOptions, decode_yolo

    opts = YoloOptions(input_size=input_hw, score_threshold=float(record.get("score_threshold", 0.25)),
                       iou_threshold=float(record.get("iou_threshold", 0.45)))

    def decode(out: np.ndarray) -> DetectionArrays:
        try:
            return decode_yolo(out[None], opts)
        except ValueError as exc:
            raise UserInputError(f"{source}: {exc}") from None

    return DetectorDecoder("yolo", (names[0],), {"kind": "yolo", "score_threshold": opts.score_threshold,
                                                  "iou_threshold": opts.iou_threshold}, source, decode)


def from_record(record: Mapping[str, Any], names: Sequence[str], shapes: Sequence[tuple[int, ...]], *,
                input_hw: tuple[int, int] | None = None, source: str = "decoder") -> DetectorDecoder:
    """The decoder a record describes (a file's recorded decoder, or a decoder file's tables): ``kind`` ssd
    (the default when the tables are MediaPipe's), postprocess or yolo."""
    rec = dict(record)
    kind = rec.pop("kind", "ssd")
    if kind == "invalid":   # a file's detector metadata that did not parse (runtime/decoders/mediapipe_metadata)
        raise UserInputError(str(rec.get("error", f"{source} is invalid")))
    shapes = [tuple(int(d) for d in s) for s in shapes]
    if kind == "ssd":
        return _ssd(rec, names, shapes, source)
    if kind == "postprocess":
        if not postprocess_outputs(shapes, names):
            raise UserInputError(f"{source}: a post-processed detector has outputs [N, 4], [N], [N], [] per image; "
                                 f"the model's are {[list(s) for s in shapes]}")
        roles = rec.get("names")
        return _postprocess(names, shapes, source, float(rec.get("min_score", 0.0)),
                            roles if isinstance(roles, list) else None)
    if kind == "yolo":
        if len(shapes) != 1:
            raise UserInputError(f"{source}: a YOLO head is one output [4+C, N]; the model has {len(shapes)}")
        return _yolo(rec, names, input_hw, source)
    raise UserInputError(f"{source}: decoder kind {kind!r}; one of ssd, postprocess, yolo")


def decoder_for(names: Sequence[str], shapes: Sequence[tuple[int, ...]], *, decoder_file: str | Path | None = None,
                recorded: Mapping[str, Any] | None = None, input_hw: tuple[int, int] | None = None,
                ) -> DetectorDecoder | None:
    """The model's decoder: the decoder file when given, else the one recorded in the file, else one the output
    shapes leave no doubt about (post-processed outputs, one YOLO head); None when nothing fits (SSD heads need
    their anchors: a decoder file)."""
    if decoder_file is not None:
        return from_record(read_tables(decoder_file), names, shapes, input_hw=input_hw,
                           source=f"decoder file {decoder_file}")
    if recorded:
        return from_record(recorded, names, shapes, input_hw=input_hw, source="the decoder recorded in the model")
    shapes = [tuple(int(d) for d in s) for s in shapes]
    if postprocess_outputs(shapes, names):
        return _postprocess(names, shapes, "TFLite_Detection_PostProcess outputs", 0.0)
    if yolo_output(shapes):
        return _yolo({}, names, input_hw, "one dense YOLO-style head")
    return None


def read_tables(path: str | Path) -> dict[str, Any]:
    """A decoder file's tables (validated when bound to a model): TOML, capped at ``config.MAX_BYTES``."""
    from edgelite.runtime.decoders import config

    return config.read_tables(path)
