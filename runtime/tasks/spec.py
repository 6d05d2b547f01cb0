"""Which task a model is judged by, and what that task needs (a decoder, annotations, label masks, a user
metric): ``TaskRequest`` is what the user asked for (flags or edgelite.toml), ``resolve`` turns it and the model's
file into a ``TaskSpec``.

The default, when ``--task`` is not given, in this order: a task recorded in the file by ``convert`` (or named by
its standard metadata: MediaPipe's detector metadata, a TFLite detector's or segmenter's output); a decoder file
(detect); outputs that leave no doubt (``TFLite_Detection_PostProcess``'s four, one dense YOLO head: detect; an
image-sized score map: segment); labels that fit an output, or an output whose rows are probability vectors
(classify); else ``regress`` (per-output error only). Every guess is one notice line naming what decided it.
Landmarks and embeddings are never guessed (a vector of 1404 values is either): ``--task landmarks|embed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.tasks.base import TASKS

if TYPE_CHECKING:
    from edgelite.runtime.decoders.select import DetectorDecoder
    from edgelite.runtime.tasks.user_metric import UserMetric

# The edgelite metadata entry's provenance key the task is recorded under: {"kind": …, "decoder": {…}}.
RECORD_KEY = "task"   # = runtime.metadata.TASK_KEY (a model's reader; this module is not imported to read one key)


@dataclass(frozen=True)
class TaskRequest:
    """What the user asked for; every field optional. ``metric`` is ``package.module:function`` or
    ``path/to/file.py:function`` (user code: imported only when named)."""

    kind: str | None = None
    decoder: Path | None = None
    annotations: Path | None = None
    masks: Path | None = None
    metric: str | None = None
    resamples: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind is not None and self.kind not in TASKS:
            raise UserInputError(f"--task {self.kind!r}: one of {', '.join(TASKS)}")
        if self.resamples < 0:
            raise UserInputError(f"bootstrap resamples must be ≥ 0, got {self.resamples}")

    @property
    def asked(self) -> bool:
        """Whether anything task-related was asked for (else the default applies)."""
        return any(v is not None for v in (self.kind, self.decoder, self.annotations, self.masks, self.metric))


@dataclass(frozen=True)
class OutputInfo:
    """One model output as the task guess reads it: name and one sample's shape (no batch axis)."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class TaskSpec:
    """A resolved task: its kind, why (``basis``), and what the kind needs."""

    kind: str
    basis: str
    decoder: DetectorDecoder | None = None
    annotations: Path | None = None
    masks: Path | None = None
    metric: UserMetric | None = None
    class_output: str | None = None          # classify: the output holding class scores
    input_size: tuple[int, int] | None = None   # (width, height) in pixels
    resamples: int = 1000
    seed: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)
    from_file: bool = False                  # the kind is what the file records (edgelite's entry or its metadata)

    def record(self) -> dict[str, Any]:
        """What ``convert`` writes into the file so every command judges alike."""
        out: dict[str, Any] = {"kind": self.kind}
        if self.decoder is not None:
            out["decoder"] = self.decoder.record
        return out


def _image_sized(shape: tuple[int, ...], input_hw: tuple[int, int] | None) -> bool:
    """A score map over the image: (H, W, C≥2) at the input's size or a power-of-two fraction of it; not 3
    channels (an image-to-image model's RGB output)."""
    if len(shape) != 3 or shape[2] < 2 or shape[2] == 3 or input_hw is None:
        return False
    h, w = input_hw
    return any(shape[0] * f == h and shape[1] * f == w for f in (1, 2, 4, 8))


def guess(outputs: Sequence[OutputInfo], *, labels: Sequence[str] | None = None,
          input_hw: tuple[int, int] | None = None, class_output: str | None = None) -> tuple[str, str]:
    """(kind, why) from the outputs' shapes and the file's labels; ``class_output`` is the output the run found
    to hold class scores (labels fit it or its rows are probabilities), if any."""
    from edgelite.runtime.decoders.select import postprocess_outputs, yolo_output

    shapes = [o.shape for o in outputs]
    listed = ", ".join(f"{o.name} {list(o.shape)}" for o in outputs)
    if postprocess_outputs(shapes, [o.name for o in outputs]):
        return "detect", f"guessed from the outputs: TFLite_Detection_PostProcess's four ({listed})"
    if yolo_output(shapes):
        return "detect", f"guessed from the output: one dense YOLO-style head ({listed})"
    for o in outputs:
        if _image_sized(o.shape, input_hw):
            return "segment", f"guessed from output {o.name} {list(o.shape)}: a score map over the image"
    if labels:
        for o in outputs:
            if int(np.prod(o.shape or (1,))) == len(labels):
                return "classify", f"the file's {len(labels)} labels fit output {o.name}"
    if class_output is not None:
        return "classify", f"output {class_output}'s rows are probability vectors"
    return "regress", f"nothing in the file or the output shapes names a task ({listed}); per-output error only"


def _ssd_hint(outputs: Sequence[OutputInfo]) -> str | None:
    three = [o for o in outputs if len(o.shape) == 2 and o.shape[0] >= 100]
    if len(three) >= 2 and len({o.shape[0] for o in three}) == 1:
        return (f"outputs {', '.join(f'{o.name} {list(o.shape)}' for o in three)} look like an SSD detector's: "
                "give --task detect --decoder FILE (MediaPipe's anchor options) to judge its detections")
    return None


def _from_standard_metadata(rec: Mapping[str, Any], request: TaskRequest) -> bool:
    """Whether the task came from the file's TFLite Support metadata alone (no --task, no --decoder)."""
    from edgelite.runtime.metadata import STANDARD_TASK_SOURCE

    source = rec.get("source")
    return (request.kind is None and request.decoder is None and isinstance(source, str)
            and source.startswith(STANDARD_TASK_SOURCE))


def _basis_of(rec: Mapping[str, Any]) -> str:
    source = rec.get("source")
    return source if isinstance(source, str) and source else "recorded in the file by edgelite convert"


def resolve(request: TaskRequest, outputs: Sequence[OutputInfo], *, labels: Sequence[str] | None = None,
            recorded: Mapping[str, Any] | None = None, input_hw: tuple[int, int] | None = None,
            class_output: str | None = None) -> TaskSpec:
    """The ``TaskSpec`` for a model with ``outputs``: the request first, then what the file records, then the
    guess. ``recorded`` is the file's ``RECORD_KEY`` entry; ``input_hw`` the image input's (height, width)."""
    from edgelite.runtime.decoders.select import decoder_for

    notes: list[str] = []
    rec = dict(recorded) if isinstance(recorded, Mapping) else {}
    rec_kind = rec.get("kind") if rec.get("kind") in TASKS else None
    if request.kind is not None:
        kind, basis = request.kind, "--task"
    elif rec_kind is not None:
        # a record from the file's standard metadata says where it came from; edgelite's own has no source
        kind, basis = str(rec_kind), _basis_of(rec)
    elif request.decoder is not None:
        kind, basis = "detect", f"--decoder {request.decoder}"
    elif request.annotations is not None:
        kind, basis = "detect", f"--annotations {request.annotations}"
    elif request.masks is not None:
        kind, basis = "segment", f"--masks {request.masks}"
    else:
        kind, basis = guess(outputs, labels=labels, input_hw=input_hw, class_output=class_output)
        if kind == "regress" and (hint := _ssd_hint(outputs)):
            notes.append(hint)
    decoder = None
    if kind == "detect":
        rec_decoder = rec.get("decoder") if isinstance(rec.get("decoder"), Mapping) else None
        metadata_only = _from_standard_metadata(rec, request)
        try:
            decoder = decoder_for([o.name for o in outputs], [o.shape for o in outputs],
                                  decoder_file=request.decoder, recorded=rec_decoder, input_hw=input_hw)
        except UserInputError:
            if not metadata_only:
                raise
            decoder = None
        if decoder is None and metadata_only:
            # the Task Library's detector metadata on outputs that are not the post-processed four: the
            # metadata's word is not enough to decode them; judge by what the outputs say, and say so
            kind, basis = guess(outputs, labels=labels, input_hw=input_hw, class_output=class_output)
            rec_kind = None
            notes.append(f"{_basis_of(rec)} names a detector, but outputs "
                         f"{', '.join(f'{o.name} {list(o.shape)}' for o in outputs)} are not "
                         "TFLite_Detection_PostProcess's four; give --task detect --decoder FILE to decode them")
            if kind == "detect":   # a YOLO head: its decoder comes from the shapes
                decoder = decoder_for([o.name for o in outputs], [o.shape for o in outputs], input_hw=input_hw)
        elif decoder is None:
            raise UserInputError(
                f"--task detect: outputs {', '.join(f'{o.name} {list(o.shape)}' for o in outputs)} need a decoder; "
                "give --decoder FILE (TOML with MediaPipe's [anchors]/[decode]/[nms] option names, see "
                "examples/decoders/)")
    # COCO annotations judge a detector (boxes) or a landmark model (keypoints); nothing else reads them
    if request.annotations is not None and kind not in ("detect", "landmarks"):
        raise UserInputError(f"--annotations {request.annotations}: COCO annotations judge a detector (boxes) or "
                             f"landmarks (keypoints), but the task is {kind}; add --task detect --decoder FILE or "
                             "--task landmarks")
    if request.masks is not None and kind != "segment":
        raise UserInputError(f"--masks {request.masks}: label masks judge a segmenter, but the task is {kind}")
    metric = None
    if request.metric is not None:
        from edgelite.runtime.tasks.user_metric import load_metric

        metric = load_metric(request.metric)
    size = (input_hw[1], input_hw[0]) if input_hw is not None else None
    return TaskSpec(kind=kind, basis=basis, decoder=decoder, annotations=request.annotations, masks=request.masks,
                    metric=metric, class_output=class_output, input_size=size, resamples=request.resamples,
                    seed=request.seed, notes=tuple(notes), from_file=request.kind is None and rec_kind is not None)
