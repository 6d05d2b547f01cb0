"""Conversion settings: ``ConvertConfig`` (its choices are the enums of ``edgelite.core.vocabulary``)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgelite.core import vocabulary as voc
from edgelite.core.errors import UserInputError
from edgelite.core.options import ConvertOptions
from edgelite.core.recipe import Recipe
from edgelite.core.vocabulary import IOType, QuantMode, Target, resolve_target

if TYPE_CHECKING:
    from edgelite.calibration.sources import DataRef
    from edgelite.runtime.tasks.spec import TaskRequest

__all__ = ["ConvertConfig", "IOType", "QuantMode", "default_output"]


@dataclass(frozen=True)
class ConvertConfig:
    """Everything ``convert`` needs. Preprocessing fields left as None come from the model's input shape."""

    model: Path
    output: Path
    calib: Path | dict[str, Path] | None = None   # one path, or one per input of a multi-input model
    mode: QuantMode = None  # type: ignore[assignment]  # None: the target's choice (int8 for litert)
    io: IOType | None = None               # None: the target's choice (int8 for int8 mode, float32 otherwise)
    samples: int = 200
    seed: int = 0
    input_size: tuple[int, int] | None = None
    resize: str = "bilinear"
    color: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: Path | None = None
    allow_float_ops: bool = False
    keep_float: tuple[str, ...] = ()       # regexes on layer/tensor names: those ops stay float
    keep_float_ops: tuple[str, ...] = ()   # op types (CONV_2D, HARD_SWISH, …): every op of the type stays float
    max_drop: float | None = None          # accuracy budget in points (needs ``eval``)
    max_float_layers: int | None = None    # the budget search may keep at most this many layers float
    eval: Path | dict[str, Path] | None = None   # evaluation data for the budget (and analyze); per input too
    eval_samples: int | None = None        # seeded subset of the evaluation data; None: all
    target: Target = Target.LITERT         # also takes its value as a string (converter/targets.py)
    resize_pipeline: str | None = None     # pil | mediapipe | tflite-support | tf; None: the target's (resize.py)
    confirm_fraction: float = 1 / 3        # --max-drop: share of the evaluation data held out to confirm the budget
    calibration: str = "minmax"            # activation range method: minmax | percentile[:P] | mse | entropy
    bias_correction: bool = False          # correct each layer's int32 bias for the mean shift int8 causes
    equalize: str | None = None            # cross-layer equalization criterion (activations | weights); None: off
    optimize: str | None = None            # accuracy: try the methods in order of cost (converter/optimize.py)
    max_size_growth: float = 1.3           # --optimize: the float fallback may grow the plain int8 size this much
    task: TaskRequest | None = None        # --task/--metric/--decoder…: what --max-drop, --optimize and analyze judge
    # PyTorch/ONNX sources (converter/pytorch_source.py): example input shapes in the source's own layout, one per
    # input; and whether NCHW image inputs stay NCHW instead of becoming NHWC on the device
    input_shapes: tuple[tuple[int, ...], ...] = ()
    keep_layout: bool = False
    target_notes: tuple[str, ...] = field(default=(), init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        object.__setattr__(self, "output", Path(self.output))
        object.__setattr__(self, "keep_float", tuple(self.keep_float))
        object.__setattr__(self, "keep_float_ops", tuple(op.upper() for op in self.keep_float_ops))
        for name in ("calib", "labels", "eval"):
            value = getattr(self, name)
            if isinstance(value, Mapping) and name != "labels":   # one data path per input (multi-input models)
                object.__setattr__(self, name, {str(k): Path(v) for k, v in value.items()})
            elif value is not None:
                object.__setattr__(self, name, Path(value))
        mode, io, notes = resolve_target(self.target, self.mode, self.io)
        object.__setattr__(self, "target", Target(self.target or Target.LITERT))
        object.__setattr__(self, "resize_pipeline", _resolve_pipeline(self.target, self.resize_pipeline))
        object.__setattr__(self, "target_notes", tuple(notes))
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "io", io)

    @classmethod
    def from_options(cls, model: str | os.PathLike[str], output: str | os.PathLike[str], options: ConvertOptions, *,
                     calib: DataRef | None = None, labels: str | os.PathLike[str] | None = None,
                     eval: DataRef | None = None, eval_samples: int | None = None,
                     max_drop: float | None = None, max_float_layers: int | None = None,
                     resize_pipeline: str | None = None, confirm_fraction: float = 1 / 3,
                     optimize: str | None = None, max_size_growth: float = 1.3) -> ConvertConfig:
        """The one way from stated choices (CLI flags, an ``edgelite.toml`` table) to a config."""
        o = options
        if o.input_size is not None and len(o.input_size) != 2:
            raise UserInputError(f"input size: give height and width, got {o.input_size}")
        return cls(
            model=Path(model), output=Path(output), calib=calib,  # type: ignore[arg-type]  # __post_init__ makes Paths
            # strings are checked and turned into enums by __post_init__ (resolve_target): one error message
            mode=o.mode, io=o.io, target=o.target or Target.LITERT,  # type: ignore[arg-type]
            samples=o.samples, seed=o.seed,
            input_size=None if o.input_size is None else (o.input_size[0], o.input_size[1]),
            resize=o.resize or "bilinear", color=o.color,
            mean=None if o.mean is None else tuple(o.mean), std=None if o.std is None else tuple(o.std),
            labels=None if labels is None else Path(labels), allow_float_ops=o.allow_float_ops,
            keep_float=tuple(o.keep_float), keep_float_ops=tuple(o.keep_float_ops),
            max_drop=max_drop, max_float_layers=max_float_layers,
            eval=eval, eval_samples=eval_samples,  # type: ignore[arg-type]  # __post_init__ makes Paths
            resize_pipeline=resize_pipeline, confirm_fraction=confirm_fraction,
            calibration=o.calibration or "minmax", bias_correction=o.bias_correction, equalize=o.equalize,
            optimize=optimize, max_size_growth=max_size_growth,
            input_shapes=tuple(tuple(int(d) for d in s) for s in (o.input_shapes or ())), keep_layout=o.keep_layout,
        )

    @property
    def recipe(self) -> Recipe:
        """The quantization choices of this config (``edgelite.core.recipe``)."""
        return Recipe(target=self.target.value, mode=self.mode.value, io=self.io_type.value,
                      calibration=self.calibration, bias_correction=self.bias_correction, equalize=self.equalize,
                      keep_float=list(self.keep_float), keep_float_ops=list(self.keep_float_ops),
                      allow_float_ops=self.allow_float_ops)

    def with_recipe(self, recipe: Recipe) -> ConvertConfig:
        """This config making ``recipe``'s model: its choices replace the config's; no search runs."""
        return dataclasses.replace(
            self, target=recipe.target, mode=recipe.mode, io=recipe.io,  # type: ignore[arg-type]  # checked here
            calibration=recipe.calibration, bias_correction=recipe.bias_correction, equalize=recipe.equalize,
            keep_float=tuple(recipe.keep_float), keep_float_ops=tuple(recipe.keep_float_ops),
            allow_float_ops=recipe.allow_float_ops, optimize=None, max_drop=None)

    @property
    def io_type(self) -> IOType:
        if self.io is not None:
            return self.io
        return IOType.INT8 if self.mode is QuantMode.INT8 else IOType.FLOAT32

    def validate(self, *, writes_output: bool = True) -> list[str]:
        """Check everything that needs no TensorFlow; return warnings. Raises ``UserInputError``.

        ``writes_output=False`` (``analyze``) skips the checks on ``output``."""
        warnings = []
        from edgelite.converter.pytorch_source import kind_of, require
        from edgelite.converter.source_kinds import refuse_unsupported

        refuse_unsupported(self.model)   # before anything else: a pickle is refused unread
        exported = kind_of(self.model)
        if exported != "factory" and not self.model.exists():
            raise UserInputError(f"{self.model}: no such model; pass a .keras, .h5, SavedModel folder, float "
                                 ".tflite, .pt2, .onnx or a package.module:factory")
        if (self.input_shapes or self.keep_layout) and exported is None:
            raise UserInputError(f"{self.model}: --input-shape and --keep-layout are for PyTorch and ONNX sources; "
                                 "drop them (--input-size HxW sets an image size)")
        if exported is not None and (self.mode not in (QuantMode.INT8, QuantMode.FLOAT32)
                                     or self.target is not Target.LITERT):
            raise UserInputError(f"{self.model}: PyTorch and ONNX sources convert to --mode int8 (or float32, the "
                                 f"float export) for --target litert (not --mode {self.mode.value}, --target "
                                 f"{self.target.value})")
        if exported is not None:
            require(exported)   # a missing extra: one line naming the install, before anything is read
            from edgelite.converter.pytorch_source import parse_input_shape

            for shape in self.input_shapes:   # the caps of --input-shape, also for check's input_shapes
                parse_input_shape(",".join(str(d) for d in shape))
        if self.model.suffix == ".tflite" and (self.mode is not QuantMode.INT8 or self.target is not Target.LITERT):
            raise UserInputError(f"{self.model}: a float .tflite source converts to --mode int8 for --target litert "
                                 f"only (not --mode {self.mode.value}, --target {self.target.value}); for other "
                                 "modes and targets pass its Keras or SavedModel source")
        if writes_output:
            self._validate_output()
        if self.samples < 1:
            raise UserInputError(f"--samples must be ≥ 1, got {self.samples}")
        if self.labels is not None and not self.labels.is_file():
            raise UserInputError(f"{self.labels}: labels file not found")
        if self.mode.needs_calibration:
            if self.calib is None:
                raise UserInputError(f"--mode {self.mode.value} needs calibration data: add --calib SRC "
                                     "(an image folder, .npy or .npz)")
            for path in _paths(self.calib):
                if not path.exists():
                    raise UserInputError(f"{path}: calibration data not found; pass an image folder, .npy or .npz")
        io = self.io_type
        if self.mode is QuantMode.INT8:
            if io is IOType.UINT8 and self.target.value != "mediapipe":  # MediaPipe needs uint8: no nagging
                warnings.append("uint8 I/O: XNNPACK's fast int8 kernels expect int8 (uint8 disables them on "
                                "some Arm cores); prefer --io int8 unless a client needs uint8")
        elif self.mode is QuantMode.INT16X8:
            if io is not IOType.FLOAT32:
                raise UserInputError("--mode int16x8 supports only --io float32 (its activations are int16)")
        elif io is not IOType.FLOAT32:
            raise UserInputError(f"--io {io.value} needs --mode int8; --mode {self.mode.value} keeps float32 I/O")
        if (self.keep_float or self.keep_float_ops or self.max_drop is not None) and self.mode is not QuantMode.INT8:
            raise UserInputError(f"--keep-float/--keep-float-op/--max-drop work with --mode int8 (TF's int16x8 "
                                 f"quantizer cannot leave single ops float), not --mode {self.mode.value}")
        if self.max_drop is not None:
            if not self.max_drop >= 0:
                raise UserInputError(f"--max-drop must be ≥ 0 points, got {self.max_drop}")
            if self.eval is None:
                raise UserInputError("--max-drop needs --eval SRC: the budget is measured on evaluation data "
                                     "(SRC/<class>/ folders or an .npz with y give top-1; otherwise agreement)")
        if self.max_float_layers is not None:
            if self.max_drop is None and self.optimize is None:
                raise UserInputError("--max-float-layers bounds the --max-drop search; add --max-drop PTS")
            if self.max_float_layers < 0:
                raise UserInputError(f"--max-float-layers must be ≥ 0, got {self.max_float_layers}")
        for path in _paths(self.eval):
            if not path.exists():
                raise UserInputError(f"{path}: evaluation data not found; pass an image folder, .npy or .npz")
        from edgelite.calibration.ranges import RangeMethod

        if self.bias_correction and self.mode is not QuantMode.INT8:
            raise UserInputError(f"--bias-correction works with --mode int8, not --mode {self.mode.value}")
        if self.equalize is not None:
            voc.parse(voc.Equalize, self.equalize, "--equalize")
            if self.mode is not QuantMode.INT8:
                raise UserInputError(f"--equalize works with --mode int8, not --mode {self.mode.value}")
        if self.calibration == "auto":
            if self.mode is not QuantMode.INT8:
                raise UserInputError(f"--calibration auto works with --mode int8, not --mode {self.mode.value}")
            if self.eval is None or self.confirm_fraction <= 0.0:
                raise UserInputError("--calibration auto needs --eval SRC (and --confirm-fraction > 0): it picks the "
                                     "range method on one part and reports the choice on the held-out rest")
            if self.max_drop is not None:
                raise UserInputError("--calibration auto tries range methods only; with --max-drop use --optimize "
                                     "accuracy, which goes on to bias correction, equalization and float layers")
        elif RangeMethod.parse(self.calibration).name != "minmax" and self.mode is not QuantMode.INT8:
            raise UserInputError(f"--calibration {self.calibration} works with --mode int8 (edgelite calibrates "
                                 f"int8 itself), not --mode {self.mode.value}")
        if self.optimize is not None:
            self._validate_optimize()
        if not 0.0 <= self.confirm_fraction < 1.0:
            raise UserInputError(f"--confirm-fraction must be in [0, 1), got {self.confirm_fraction}")
        if self.eval_samples is not None and self.eval_samples < 1:
            raise UserInputError(f"--eval-samples must be ≥ 1, got {self.eval_samples}")
        if self.allow_float_ops and self.mode is not QuantMode.INT8 and self.mode is not QuantMode.INT16X8:
            warnings.append(f"--allow-float-ops has no effect with --mode {self.mode.value}")
        return warnings


    def _validate_optimize(self) -> None:
        if self.optimize != "accuracy":
            raise UserInputError(f"--optimize takes accuracy, got {self.optimize!r}")
        if self.mode is not QuantMode.INT8:
            raise UserInputError(f"--optimize accuracy works with --mode int8, not --mode {self.mode.value}")
        if self.eval is None:
            raise UserInputError("--optimize accuracy needs --eval SRC: each step is decided on one part of it and "
                                 "reported on a held-out part")
        if self.calibration != "minmax" or self.bias_correction or self.equalize is not None:  # auto too
            raise UserInputError("--optimize accuracy chooses --calibration, --bias-correction and --equalize "
                                 "itself; drop them")
        if self.confirm_fraction <= 0.0:
            raise UserInputError("--optimize accuracy reports held-out figures only: --confirm-fraction must be > 0")
        if not self.max_size_growth >= 1.0:
            raise UserInputError(f"--max-size-growth is a factor ≥ 1 (1.3: at most 30 % larger than plain int8), "
                                 f"got {self.max_size_growth}")

    def _validate_output(self) -> None:
        if self.output.suffix != ".tflite":
            raise UserInputError(f"{self.output}: output must end in .tflite")
        if self.output.resolve() == self.model.resolve():
            raise UserInputError(f"{self.output}: output would overwrite the input model; choose another path")
        if not self.output.parent.resolve().is_dir():
            raise UserInputError(f"{self.output}: folder {self.output.parent} does not exist; create it first")


def _resolve_pipeline(target: Target, name: str | None) -> str:
    """The target's own decode + resize where it has one (``mediapipe``: anything else would predict another
    client); else the user's choice, default ``pil``."""
    from edgelite.calibration.resize import Pipeline

    forced = voc.PRESETS[Target(target)].resize_pipeline
    if forced is not None:
        if name not in (None, forced):
            Pipeline.parse(name)   # an unknown name gets the list first
            raise UserInputError(f"--target {Target(target).value} resizes as its client does; --resize-pipeline "
                                 f"{name} would make edgelite's numbers differ from the phone's: drop it")
        return Pipeline.parse(forced).value
    return Pipeline.parse(name or Pipeline.PIL.value).value


def default_output(model: str | os.PathLike[str], mode: QuantMode) -> Path:
    p = Path(model)
    return p.with_name(f"{p.stem}_{mode.value}.tflite")


def _paths(ref: Path | dict[str, Path] | None) -> list[Path]:
    """The files/folders of a data flag (one per input of a multi-input model)."""
    return [] if ref is None else list(ref.values()) if isinstance(ref, dict) else [ref]
