"""What ``convert``, ``analyze`` and the budget search share: the loaded source, its preprocessing spec and
labels, the calibration samples, and the evaluation samples."""

from __future__ import annotations

import contextlib
import dataclasses
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelite.calibration import collect, open_source
from edgelite.calibration.multi_input import Inputs, InputSlot, bind, is_image_input
from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.calibration.sampling import Collected
from edgelite.calibration.sources import describe
from edgelite.converter.config import ConvertConfig
from edgelite.converter.loading import SourceModel, load_source
from edgelite.core.errors import UserInputError
from edgelite.runtime import metadata as md


@dataclass
class Prepared:
    src: SourceModel
    spec: PreprocessSpec | None
    labels: tuple[str, ...] | None
    calib: Collected | None
    calib_is_arrays: bool
    calib_info: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    eval_groups: list[str] = field(default_factory=list)   # source group of each eval sample (calibration/split.py)
    eval_ids: list[str] = field(default_factory=list)      # each eval sample's id (runs.sample_ids: its path)
    slots: tuple[InputSlot, ...] = ()   # every input, in the source's order (``spec`` is the first image input's)

    @property
    def crop_fraction(self) -> float:
        """The central crop the model saw (boxes and masks of the evaluation images map back through it)."""
        return self.spec.crop_fraction if self.spec is not None else 1.0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        if self.spec is not None and len(self.slots) <= 1:
            return self.spec.input_shape
        if self.slots:
            return self.slots[0].shape
        return tuple(int(d) for d in self.src.input_shape[1:] if d is not None)

    def open_data(self, ref: Any) -> Any:
        """A data folder/file (or one per input) opened and matched to the model's inputs."""
        source = open_source(ref, class_names=self.labels)
        return bind(source, self.slots, model=str(self.src.path)) if self.slots else source

    def data_warnings(self, cfg: ConvertConfig, ev: Collected | None) -> list[str]:
        """Pre-flight checks of the calibration (and evaluation) data, input by input."""
        from edgelite.converter import preflight

        assert self.calib is not None
        x, x_eval = self.calib.x, ev.x if ev is not None else None
        if not isinstance(x, Inputs):
            return preflight.data_warnings(x, self.spec, arrays=self.calib_is_arrays, source=describe(cfg.calib),
                                           x_eval=x_eval if not isinstance(x_eval, Inputs) else None,
                                           eval_source=describe(cfg.eval) if cfg.eval else None)
        found = []
        for k, slot in enumerate(self.slots):
            found += preflight.data_warnings(
                x.arrays[k], slot.spec, arrays=True, source=f"{describe(cfg.calib)}[{slot.name}]",
                x_eval=x_eval.arrays[k] if isinstance(x_eval, Inputs) else None,
                eval_source=f"{describe(cfg.eval)}[{slot.name}]" if cfg.eval else None)
        return found

    def eval_data(self, cfg: ConvertConfig) -> Collected:
        """The ``--eval`` samples (all, or a seeded subset of ``eval_samples``), labelled by class folder or y."""
        assert cfg.eval is not None
        t0 = time.perf_counter()
        source = self.open_data(cfg.eval)
        got = collect(source, self.spec, self.sample_shape, cfg.eval_samples, cfg.seed, desc="eval data",
                      shuffle=cfg.eval_samples is not None)
        if got.skipped:
            self.warnings.append(f"{len(got.skipped)} unreadable image(s) skipped in {describe(cfg.eval)}, "
                                 f"e.g. {got.skipped[0]}")
        if got.y is not None and self.labels and int(got.y.max()) >= len(self.labels):
            raise UserInputError(f"{describe(cfg.eval)}: labels go up to {int(got.y.max())} but the model has "
                                 f"{len(self.labels)} classes")
        self.timings["eval_data_s"] = time.perf_counter() - t0
        from edgelite.calibration.split import group_key

        items = source.items
        self.eval_groups = [group_key(items[int(i)] if source.kind == "images" else None, int(i))
                            for i in got.indices]
        from edgelite.runtime.runs import sample_ids

        self.eval_ids = sample_ids(source, got.indices)
        return got


def _for_target(cfg: ConvertConfig, src: SourceModel, labels: Any, tmp: Path, warnings: list[str]) -> SourceModel:
    """Check the source against ``--target`` and re-export it as the target needs (batch 1, RGB front)."""
    from edgelite.converter.targets import check_source, refront
    from edgelite.core.vocabulary import PRESETS

    preset = PRESETS[cfg.target]
    if not (preset.batch1 or preset.rgb_front or preset.image_classifier):
        return src
    warnings.extend(check_source(cfg.target, cfg.model, src.input_shape, src.output_shape, len(src.input_names),
                                 labels))
    if len(src.input_names) != 1:
        warnings.append(f"{cfg.model}: {len(src.input_names)} inputs: the batch size stays as exported")
        return src
    rgb = preset.rgb_front and src.input_shape[-1] == 1
    if cfg.color and rgb:
        raise UserInputError(f"--color {cfg.color}: --target {cfg.target.value} feeds RGB images to this grayscale "
                             "model (an RGB->gray layer goes in front); drop --color")
    return refront(src, tmp, batch1=preset.batch1, rgb=rgb)


def resolve_spec(cfg: ConvertConfig, src: SourceModel) -> PreprocessSpec | None:
    """Preprocessing from the flags, else a float .tflite's own metadata, defaulting to the model's input shape.
    None for non-image inputs."""
    shape = src.input_shape
    if len(shape) != 4:
        if cfg.input_size or cfg.color:
            raise UserInputError(f"{cfg.model}: input shape {shape} is not an image (N,H,W,C); "
                                 "drop --input-size/--color and calibrate with arrays")
        return None
    nchw = src.layout == "nchw"   # a PyTorch/ONNX source kept NCHW (--keep-layout)
    _, h, w, c = (shape[0], shape[2], shape[3], shape[1]) if nchw else shape
    if c not in (1, 3):
        if cfg.color:
            raise UserInputError(f"{cfg.model}: input has {c} channels; --color works with 1 or 3")
        return None
    if cfg.input_size:
        if (h, w) != (None, None) and (h, w) != cfg.input_size:
            raise UserInputError(f"{cfg.model}: input is {h}x{w} but --input-size is "
                                 f"{cfg.input_size[0]}x{cfg.input_size[1]}; drop the flag or match it")
        h, w = cfg.input_size
    if h is None or w is None:
        raise UserInputError(f"{cfg.model}: input size is dynamic ({shape}); give --input-size HxW")
    from edgelite.converter import source_metadata

    # each flag, else what a float .tflite's metadata says (checked against its input), else edgelite's default
    mean, std, file_color = source_metadata.preprocessing(cfg, source_metadata.for_source(src.path))
    color = file_color or ("gray" if c == 1 else "rgb")
    if (color == "gray") != (c == 1):
        raise UserInputError(f"{cfg.model}: model input has {c} channel(s) but --color is {color}; "
                             f"use --color {'gray' if c == 1 else 'rgb or bgr'}")
    return PreprocessSpec(height=int(h), width=int(w), color=color, resize=cfg.resize,
                          mean=mean, std=std, pipeline=cfg.resize_pipeline or "pil", layout="nchw" if nchw else "nhwc")


def input_slots(cfg: ConvertConfig, src: SourceModel, spec: PreprocessSpec | None) -> tuple[InputSlot, ...]:
    """Every input of the source as data sees it. One input: ``spec`` (the flags'). Several: each 4-D input with
    1 or 3 channels is an image input and gets the flags' preprocessing; the others take arrays."""
    shapes = _input_shapes(src)
    if len(shapes) == 1:
        first: tuple[int, ...] = spec.input_shape if spec is not None else \
            tuple(int(d) for d in shapes[0][1:] if d is not None)
        return (InputSlot(src.input_names[0], first, spec),)
    slots = []
    for name, shape in zip(src.input_names, shapes, strict=True):
        one = resolve_spec(cfg, dataclasses.replace(src, input_shape=shape)) if is_image_input(shape[1:]) else None
        if one is None and any(d is None for d in shape[1:]):
            raise UserInputError(f"{cfg.model}: input {name!r} has a dynamic shape {shape}; export it with a fixed "
                                 "one to calibrate")
        slots.append(InputSlot(name, one.input_shape if one is not None else tuple(int(d or 0) for d in shape[1:]),
                               one))
    return tuple(slots)


def _integer_inputs(src: SourceModel) -> list[tuple[str, str]]:
    """(name, dtype) of the source's inputs that take integers (token ids, indices)."""
    if src.keras_model is not None:
        dtypes = [str(getattr(t, "dtype", "float32")) for t in src.keras_model.inputs]
    elif src.signature is not None:
        specs = src.signature.structured_input_signature[1]
        dtypes = [str(getattr(specs[n].dtype, "name", specs[n].dtype)) for n in src.input_names]
    else:
        return []   # a float .tflite source: non-float inputs are refused when it loads
    return [(n, d) for n, d in zip(src.input_names, dtypes, strict=True) if d.startswith(("int", "uint", "bool"))]


def _input_shapes(src: SourceModel) -> list[tuple[int | None, ...]]:
    """Each input's shape (batch axis included) in ``src.input_names`` order."""
    if len(src.input_names) == 1:
        return [tuple(src.input_shape)]
    if src.input_shapes:
        return list(src.input_shapes)
    assert src.tflite_bytes is not None   # a float .tflite: its own input tensors, read from the flatbuffer
    from edgelite.runtime.tflite_file import io_tensors

    shapes = {t.name: t.shape for t in io_tensors(src.tflite_bytes)[0]}
    return [tuple(shapes[n]) for n in src.input_names]


def _labels_fit(labels: Any, src: SourceModel) -> bool:
    """One label per class of one of the outputs (a multi-head model's class head need not be the first)."""
    return any(md.labels_match_output(labels, tuple(d or 0 for d in shape))
               for shape in (src.output_shapes or (src.output_shape,)))


def _output_shapes_shown(src: SourceModel) -> str:
    shapes = src.output_shapes or (src.output_shape,)
    return str(shapes[0]) if len(shapes) == 1 else ", ".join(map(str, shapes))


def input_pin(cfg: ConvertConfig, spec: PreprocessSpec | None, warnings: list[str]) -> Any:
    """The uint8 input quantization to pin when the file's pipeline feeds raw pixels (None otherwise)."""
    from edgelite.converter.config import IOType
    from edgelite.converter.input_quant import raw_pixel_pin

    if spec is None or cfg.io_type is not IOType.UINT8 or not spec.resize_pipeline.feeds_raw_uint8:
        return None
    return raw_pixel_pin(spec.mean, spec.std, spec.pipeline, warnings)


@contextlib.contextmanager
def prepared(cfg: ConvertConfig, warnings: list[str]) -> Iterator[Prepared]:
    """Load the source (exported to a SavedModel for the converter) and collect calibration samples."""
    t_start = time.perf_counter()
    from edgelite.converter.tflite_source import source_labels  # a float .tflite's metadata gives the defaults

    labels = source_labels(cfg, warnings)   # --labels, else the source's own; its notices go to warnings
    with load_source(cfg.model, input_shapes=cfg.input_shapes, keep_layout=cfg.keep_layout) as src, \
            tempfile.TemporaryDirectory(prefix="edgelite-target-") as tmp:
        timings = {"load_s": time.perf_counter() - t_start}
        src = _for_target(cfg, src, labels, Path(tmp), warnings)
        spec = resolve_spec(cfg, src) if len(src.input_names) == 1 else None
        slots = input_slots(cfg, src, spec)
        if spec is None:
            spec = next((slot.spec for slot in slots if slot.spec is not None), None)
        if labels and not _labels_fit(labels, src):
            raise UserInputError(f"{cfg.labels}: {len(labels)} labels but the model has output shape "
                                 f"{_output_shapes_shown(src)}; give one label per class")
        info: dict[str, Any] = {"requested": 0, "used": 0, "skipped_unreadable": 0, "seed": cfg.seed,
                                "source": describe(cfg.calib) if cfg.calib else None, "class_counts": {}}
        prep = Prepared(src, spec, labels, None, False, info, warnings, timings, slots=slots)
        if cfg.mode.needs_calibration:
            assert cfg.calib is not None
            integer = _integer_inputs(src)
            if integer:
                name, dtype = integer[0]
                raise UserInputError(f"{cfg.model}: input {name!r} takes {dtype} values (ids or indices); "
                                     f"--mode {cfg.mode.value} calibrates float inputs only for now — convert it with "
                                     "--mode float16 or dynamic, or feed that input as float")
            t0 = time.perf_counter()
            source = prep.open_data(cfg.calib)
            got = collect(source, spec, prep.sample_shape, cfg.samples, cfg.seed, desc="calibration")
            if labels is None and source.class_names and _labels_fit(source.class_names, src):
                prep.labels = source.class_names
                warnings.append(f"labels taken from the class folders of {describe(cfg.calib)}: "
                                f"{', '.join(source.class_names[:5])}…")
            info.update(requested=cfg.samples, used=len(got.x), skipped_unreadable=len(got.skipped),
                        class_counts=got.class_counts)
            if got.skipped:
                warnings.append(f"{len(got.skipped)} unreadable image(s) skipped in {describe(cfg.calib)}, "
                                f"e.g. {got.skipped[0]}")
            if len(got.x) < min(cfg.samples, 50):
                warnings.append(f"only {len(got.x)} calibration samples; 100–500 give steadier int8 ranges")
            prep.calib = got
            prep.calib_is_arrays = source.kind == "floats"
            timings["calibration_data_s"] = time.perf_counter() - t0
        yield prep
