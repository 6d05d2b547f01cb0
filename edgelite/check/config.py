"""``edgelite.toml`` (or ``[tool.edgelite]`` in pyproject.toml): the models ``edgelite check`` gates.

Validation is strict and every error is one line naming the file and the key: an unknown key is a typo that
would otherwise silently disable a budget. Relative paths are relative to the config file's folder.

    baseline = "edgelite-baseline.json"
    [budgets]                      # defaults for every model
    max_top1_drop_pts = 1.0
    [[models]]
    name = "mnist"
    source = "examples/mnist/model.keras"    # or tflite = "build/mnist_int8.tflite"
    calib = "examples/mnist/calib"
    eval = "examples/mnist/eval"
    [models.budgets]
    max_size_bytes = 40000

A model judged by its task (``edgelite compare --task``) names it with ``task``, ``decoder``, ``annotations``,
``masks`` and ``metric``; its task budgets (``max_metric_drop``, ``min_detections_kept``, …) must fit that task:
``min_detections_kept`` on a landmarks model is refused, not skipped.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edgelite.calibration.ranges import RangeMethod
from edgelite.check.budgets import FRACTIONS, RULES, TASK_BUDGETS
from edgelite.core import validate
from edgelite.core import vocabulary as voc
from edgelite.core.errors import UserInputError
from edgelite.core.options import ConvertOptions

if TYPE_CHECKING:
    from edgelite.runtime.tasks.spec import TaskRequest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

T = TypeVar("T")


@dataclass(frozen=True)
class Budgets:
    """Every budget is optional; an unset budget is not checked (and not listed)."""

    max_size_bytes: int | None = None
    max_size_growth_pct: float | None = None         # vs the baseline
    max_latency_growth_pct: float | None = None      # vs the baseline, kernel-normalized
    max_top1_drop_pts: float | None = None           # int8 vs float, same data, same run
    min_agreement: float | None = None               # share of samples where int8 and float agree on top-1
    max_int8_over_float_latency: float | None = None  # int8 latency / float latency, same rounds
    # task budgets (the model judged by its task, int8 vs float on the eval data; edgelite.runtime.tasks)
    max_metric_drop: float | None = None       # the headline's loss: points for rates, else the metric's unit
    min_detections_kept: float | None = None   # share of the float's detections the int8 model keeps
    max_detections_added: float | None = None  # detections per image the int8 model adds
    max_landmark_error_px: float | None = None  # mean landmark error vs float, in input pixels
    max_miou_drop: float | None = None         # fraction: 1 − mIoU vs the float's masks (or mIoU lost on labels)
    min_map50_95: float | None = None          # the int8 model's mAP@0.5:0.95 on the annotations
    max_keypoint_error_px: float | None = None  # detect: keypoint error of the kept detections vs float, px
    max_landmark_nme: float | None = None       # fraction: landmark error / inter-ocular distance (or box size)
    min_oks_ap: float | None = None             # landmarks: the int8 model's OKS AP@0.5:0.95 on COCO keypoints

    def merged(self, override: Budgets) -> Budgets:
        return Budgets(**{f.name: getattr(override, f.name) if getattr(override, f.name) is not None
                          else getattr(self, f.name) for f in dataclasses.fields(self)})

    def items(self) -> list[tuple[str, float]]:
        return [(f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    @property
    def needs_eval(self) -> bool:
        return any(RULES[name].needs_eval for name, _ in self.items())

    @property
    def needs_baseline(self) -> bool:
        return any(RULES[name].growth for name, _ in self.items())

    @property
    def task_budgets(self) -> list[str]:
        return [name for name, _ in self.items() if name in TASK_BUDGETS]


@dataclass(frozen=True)
class Latency:
    threads: int = 1
    rounds: int = 21
    block_ms: float = 25.0
    backend: str = "auto"
    xnnpack: bool = True


@dataclass(frozen=True)
class ModelEntry:
    name: str
    source: Path | None = None       # .keras / .h5 / SavedModel: converted by check (needs edgelite[convert])
    tflite: Path | None = None       # or an already converted candidate
    reference: Path | None = None    # float model: .tflite, or a source converted to float32 (default: source)
    calib: Path | None = None
    eval: Path | None = None
    eval_samples: int | None = None
    seed: int = 0
    labels: Path | None = None
    # the task the model is judged by (edgelite.runtime.tasks.spec.TaskRequest); None: the file's, else a guess
    task: str | None = None
    decoder: Path | None = None       # detect: the decoder file (TOML, MediaPipe's option names)
    annotations: Path | None = None   # detect: COCO box annotations of the eval images
    masks: Path | None = None         # segment: label masks of the eval images
    metric: str | None = None         # the user's metric: package.module:function or path/to/file.py:function
    convert: ConvertOptions = field(default_factory=ConvertOptions)
    budgets: Budgets = field(default_factory=Budgets)

    def task_request(self) -> TaskRequest | None:
        """What the entry asks of the task (None: nothing; compare then takes the file's task or its guess)."""
        from edgelite.runtime.tasks.spec import TaskRequest

        request = TaskRequest(kind=self.task, decoder=self.decoder, annotations=self.annotations, masks=self.masks,
                              metric=self.metric, seed=self.seed)
        return request if request.asked else None

    @property
    def implied_task(self) -> str | None:
        """The task the entry's keys fix before any model is read (as ``resolve`` picks it), else None."""
        if self.task is not None:
            return self.task
        if self.decoder is not None or self.annotations is not None:
            return "detect"
        return "segment" if self.masks is not None else None


@dataclass(frozen=True)
class CheckConfig:
    path: Path
    models: list[ModelEntry]
    baseline: Path
    work_dir: Path
    latency: Latency = field(default_factory=Latency)


@dataclass(frozen=True)
class _Files:
    """The config's top-level paths (relative to the config's folder)."""

    baseline: Path = Path("edgelite-baseline.json")
    work_dir: Path = Path("build/edgelite-check")


_PATH_FIELDS = {"source", "tflite", "reference", "calib", "eval", "labels", "decoder", "annotations", "masks"}
_TASK_KEYS = ("task", "decoder", "annotations", "masks", "metric")


def _build(cls: type[T], table: Any, where: str, file: Path, **fixed: Any) -> T:
    """A dataclass from a TOML table: unknown keys, missing keys and wrong types are one-line errors."""
    return validate.build(cls, table, file=file, key=where, finite=True, nulls=False, fixed=fixed)


def _in_range(file: Path, key: str, value: float | None, lo: float, hi: float | None = None) -> None:
    if value is not None and (value < lo or (hi is not None and value > hi)):
        bound = f"between {lo:g} and {hi:g}" if hi is not None else f"≥ {lo:g}"
        raise UserInputError(f"{file}: {key}: must be {bound}, got {value:g}")


def _budgets(table: Any, where: str, file: Path) -> Budgets:
    b = _build(Budgets, table, where, file)
    for name, value in b.items():
        _in_range(file, f"{where}.{name}", value, 0.0, 1.0 if name in FRACTIONS else None)
    _in_range(file, f"{where}.max_int8_over_float_latency", b.max_int8_over_float_latency, 1e-9)
    return b


def _resolve(base: Path, file: Path, key: str, value: Path | str | None, *, must_exist: bool = True) -> Path | None:
    if value is None:
        return None
    from edgelite.converter.source_kinds import FACTORY

    if key.endswith((".source", ".reference")) and FACTORY.match(str(value)) and not (base / str(value)).exists():
        return Path(str(value))   # a PyTorch package.module:factory, imported from where check runs
    p = Path(value)
    p = Path(os.path.normpath(p if p.is_absolute() else base / p))
    if must_exist and not p.exists():
        raise UserInputError(f"{file}: {key}: no such file or folder {p}")
    return p


def _metric(base: Path, file: Path, key: str, metric: str | None) -> str | None:
    """``path/to/file.py:function`` with the path resolved against the config's folder; a module path as is."""
    if metric is None:
        return None
    target, sep, function = metric.rpartition(":")
    if not sep or not target or not function:
        raise UserInputError(f"{file}: {key}: give package.module:function or path/to/file.py:function, "
                             f"got {metric!r}")
    if not target.endswith(".py"):
        return metric
    path = _resolve(base, file, key, target)
    return f"{path}:{function}"


def _task_fits(entry: ModelEntry, where: str, file: Path) -> None:
    """The task keys agree with each other and with the task budgets, as far as the config alone tells."""
    from edgelite.runtime.tasks.base import TASKS

    if entry.task is not None and entry.task not in TASKS:
        raise UserInputError(f"{file}: {where}.task: one of {', '.join(TASKS)}, got {entry.task!r}")
    kind = entry.implied_task
    # COCO annotations judge boxes (detect) or keypoints (landmarks), as compare --annotations does
    for key, needs in (("decoder", ("detect",)), ("annotations", ("detect", "landmarks")), ("masks", ("segment",))):
        if getattr(entry, key) is not None and kind not in needs:
            raise UserInputError(f"{file}: {where}.{key}: only applies to task {' or '.join(needs)}; this model's "
                                 f"task is {kind}")
    asked = [k for k in _TASK_KEYS if getattr(entry, k) is not None]
    if asked and entry.eval is None:
        raise UserInputError(f"{file}: {where}.eval: required by {asked[0]} (the task is judged on evaluation "
                             "data: an image folder, .npy or .npz)")
    for name in entry.budgets.task_budgets:
        rule = RULES[name]
        if kind is not None and not rule.measures(kind):
            raise UserInputError(f"{file}: {where}.budgets.{name}: needs {rule.needs()}; this model's task is {kind}")
        if rule.needs_annotations and entry.annotations is None:
            raise UserInputError(f"{file}: {where}.budgets.{name}: needs {rule.needs()}; give {where}.annotations "
                                 "(COCO instances JSON of the eval images)")


def _model(table: Any, i: int, file: Path, defaults: Budgets) -> ModelEntry:
    where = f"models[{i}]"
    if not isinstance(table, dict):
        raise UserInputError(f"{file}: {where}: expected a table ([[models]]), got {table!r}")
    raw = dict(table)
    convert = _build(ConvertOptions, raw.pop("convert", {}), f"{where}.convert", file)
    budgets = defaults.merged(_budgets(raw.pop("budgets", {}), f"{where}.budgets", file))
    entry = _build(ModelEntry, raw, where, file, convert=convert, budgets=budgets)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", entry.name):
        raise UserInputError(f"{file}: {where}.name: use letters, digits, '_', '-' or '.', got {entry.name!r}")
    if (entry.source is None) == (entry.tflite is None):
        raise UserInputError(f"{file}: {where}: give exactly one of source (a model to convert) or tflite")
    for key, enum in (("target", voc.Target), ("mode", voc.QuantMode), ("io", voc.IOType),
                      ("resize", voc.ResizeMethod), ("color", voc.ColorMode), ("equalize", voc.Equalize)):
        value = getattr(convert, key)
        if value is not None and value not in voc.choices(enum):
            raise UserInputError(f"{file}: {where}.convert.{key}: one of {', '.join(voc.choices(enum))}, got {value!r}")
    try:
        mode, _, _ = voc.resolve_target(convert.target, convert.mode, convert.io)
        RangeMethod.parse(convert.calibration)
    except UserInputError as exc:
        raise UserInputError(f"{file}: {where}.convert: {exc}") from None
    convert = dataclasses.replace(convert, mode=mode.value)
    entry = dataclasses.replace(entry, convert=convert)
    if convert.input_size is not None and len(convert.input_size) != 2:
        raise UserInputError(f"{file}: {where}.convert.input_size: give [height, width], got {convert.input_size}")
    base = file.parent
    paths: dict[str, Any] = {k: _resolve(base, file, f"{where}.{k}", getattr(entry, k)) for k in _PATH_FIELDS}
    entry = dataclasses.replace(entry, **paths, metric=_metric(base, file, f"{where}.metric", entry.metric))
    if entry.tflite is not None:
        # Conversion settings on a ready .tflite would be silently ignored: say so instead.
        unused = [k for k in ("convert", "calib", "labels") if k in table]
        if unused:
            raise UserInputError(f"{file}: {where}.{unused[0]}: only applies to source models (converted by the "
                                 f"check); {entry.tflite.name} is already converted")
    if entry.tflite is not None and entry.tflite.suffix != ".tflite":
        raise UserInputError(f"{file}: {where}.tflite: expected a .tflite file, got {entry.tflite}")
    if entry.source is not None and entry.convert.mode in ("int8", "int16x8") and entry.calib is None:
        raise UserInputError(f"{file}: {where}.calib: required to convert {entry.source.name} to "
                             f"{entry.convert.mode} (an image folder, .npy or .npz)")
    if entry.budgets.needs_eval and entry.eval is None:
        used = " / ".join(name for name, _ in entry.budgets.items() if RULES[name].needs_eval)
        raise UserInputError(f"{file}: {where}.eval: required by {used} "
                             "(evaluation data: SRC/<class>/ folders, an image folder, .npy or .npz)")
    _task_fits(entry, where, file)
    needs_ref = entry.budgets.needs_eval or entry.budgets.max_int8_over_float_latency is not None
    if needs_ref and entry.reference is None and entry.source is None:
        raise UserInputError(f"{file}: {where}.reference: required with tflite = ... to check accuracy or "
                             "int8-over-float latency (the float model: .tflite, .keras, .h5 or SavedModel)")
    if entry.eval_samples is not None and entry.eval_samples < 1:
        raise UserInputError(f"{file}: {where}.eval_samples: must be ≥ 1, got {entry.eval_samples}")
    return entry


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such config file; write an edgelite.toml (see README, 'edgelite check')"
                             ) from None
    except IsADirectoryError:
        raise UserInputError(f"{path}: is a folder; --config takes an edgelite.toml or pyproject.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: not valid TOML ({exc}); TOML files are UTF-8 text") from None


def find_config(start: Path | None = None) -> Path:
    """``edgelite.toml`` in the current folder, else a pyproject.toml with ``[tool.edgelite]``."""
    folder = start or Path.cwd()
    if (folder / "edgelite.toml").is_file():
        return folder / "edgelite.toml"
    pyproject = folder / "pyproject.toml"
    if pyproject.is_file() and "edgelite" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    raise UserInputError(f"{folder}: no edgelite.toml and no [tool.edgelite] in pyproject.toml; "
                         "pass --config FILE")


def load_config(path: str | Path) -> CheckConfig:
    """Read and validate a config file (``edgelite.toml``, or ``pyproject.toml`` with ``[tool.edgelite]``)."""
    file = Path(path)
    data = _read_toml(file)
    if file.name == "pyproject.toml" or "edgelite" in data.get("tool", {}):
        data = data.get("tool", {}).get("edgelite")
        if data is None:
            raise UserInputError(f"{file}: no [tool.edgelite] table; add one or pass an edgelite.toml")
        prefix = "tool.edgelite."
    else:
        prefix = ""
    known = {"models", "budgets", "latency", "baseline", "work_dir"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise UserInputError(f"{file}: {prefix}{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
    defaults = _budgets(data.get("budgets", {}), f"{prefix}budgets", file)
    latency = _build(Latency, data.get("latency", {}), f"{prefix}latency", file)
    if latency.backend not in voc.choices(voc.BackendName):
        raise UserInputError(f"{file}: {prefix}latency.backend: one of {', '.join(voc.choices(voc.BackendName))}, "
                             f"got {latency.backend!r}")
    if latency.threads < 1 or latency.rounds < 3 or latency.block_ms <= 0:
        raise UserInputError(f"{file}: {prefix}latency: threads ≥ 1, rounds ≥ 3 and block_ms > 0, got "
                             f"threads={latency.threads} rounds={latency.rounds} block_ms={latency.block_ms:g}")
    models_raw = data.get("models")
    if not isinstance(models_raw, list) or not models_raw:
        raise UserInputError(f"{file}: {prefix}models: list at least one model as [[{prefix}models]]")
    models = [_model(t, i, file, defaults) for i, t in enumerate(models_raw)]
    names = [m.name for m in models]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserInputError(f"{file}: {prefix}models: the name {dupes[0]!r} is used twice; names key the baseline")
    paths = validate.build(_Files, {k: data[k] for k in ("baseline", "work_dir") if k in data}, file=file,
                           key=prefix.rstrip("."), nulls=False)
    base = file.parent
    baseline = _resolve(base, file, "baseline", paths.baseline, must_exist=False)
    work_dir = _resolve(base, file, "work_dir", paths.work_dir, must_exist=False)
    assert baseline is not None and work_dir is not None
    return CheckConfig(path=file, models=models, baseline=baseline, work_dir=work_dir, latency=latency)
