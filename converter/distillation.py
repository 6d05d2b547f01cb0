"""``distill``: train a smaller Keras model (the student) to match a bigger one (the teacher), then int8 it.

1. The training data is preprocessed with the teacher's contract (the student must take the same input).
2. The student trains on the teacher's outputs (converter/kd_loss.py: temperature-scaled KL, light augmentation)
   plus, when the data has labels, cross-entropy on them; ``--labels-optional`` accepts unlabelled data.
3. The trained student is saved next to the output (``<output>_student.keras``) and converted to full int8 by
   ``convert`` — with ``--optimize accuracy`` on the evaluation data's split.
4. Teacher (float32 and int8) and student (before distillation, after it in float32, and the int8 file) are
   judged side by side on ``--eval``, which the training never sees: size, single-thread latency on this machine,
   agreement with the float teacher (95 % interval) and top-1 when the evaluation data has labels.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.calibration.multi_input import single_input
from edgelite.converter.config import ConvertConfig, QuantMode
from edgelite.converter.float_fallback import HeldOut, held_out_figures
from edgelite.converter.scoring import Scorer
from edgelite.core.errors import UserInputError
from edgelite.core.files import atomic_path
from edgelite.core.report import Record, Report
from edgelite.core.version import __version__

Log = Callable[[str], None]
LATENCY_RUNS = 50


@dataclass(frozen=True)
class DistillConfig:
    """``distill`` settings; ``convert`` carries the teacher, the output, the data (as ``calib``), ``eval`` and
    the preprocessing flags."""

    convert: ConvertConfig
    student: Path
    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    temperature: float = 2.0
    hard_weight: float = 1.0            # weight of the cross-entropy on labels (when there are labels)
    labels_optional: bool = False

    @property
    def student_output(self) -> Path:
        """Where the trained float student is written: next to the output, ``<stem>_student.keras``."""
        out = self.convert.output
        return out.with_name(f"{out.stem}_student.keras")

    def validate(self) -> None:
        cfg = self.convert
        if not Path(self.student).exists():
            raise UserInputError(f"{self.student}: no such student model; pass a .keras or .h5 (its architecture "
                                 "and starting weights)")
        if cfg.eval is None:
            raise UserInputError("distill needs --eval SRC: held-out data to scorer teacher and student on (not the "
                                 "--data it trains on)")
        trained = self.student_output
        if trained.resolve() in (Path(self.student).resolve(), Path(cfg.model).resolve()):
            raise UserInputError(f"{trained}: the trained student would overwrite an input model; choose another "
                                 "-o (the student is saved as <output stem>_student.keras)")
        if isinstance(cfg.eval, dict) or isinstance(cfg.calib, dict):
            raise UserInputError("distill trains single-input models: give --data/--eval as one folder or file")
        if cfg.calib is not None and Path(cfg.eval).resolve() == Path(cfg.calib).resolve():
            raise UserInputError(f"{cfg.eval}: --eval is the --data the student trains on; its figures would not "
                                 "hold elsewhere: pass held-out data")
        for name, count in (("--epochs", self.epochs), ("--batch-size", self.batch_size)):
            if count < 1:
                raise UserInputError(f"{name} must be ≥ 1, got {count}")
        for name, value in (("--lr", self.learning_rate), ("--temperature", self.temperature)):
            if not value > 0:
                raise UserInputError(f"{name} must be > 0, got {value}")
        if not self.hard_weight >= 0:
            raise UserInputError(f"--hard-weight must be ≥ 0, got {self.hard_weight}")


@dataclass(frozen=True)
class ModelFigures(Record):
    """One model of the side-by-side table."""

    name: str                   # teacher float32 | teacher int8 | student before | student float32 | student int8
    size_bytes: int
    latency_ms: float           # median single-thread invoke on this machine
    held_out: HeldOut           # agreement with the float teacher on --eval (loss: top-1 drop vs teacher or
                                # 100 × disagreement)
    top1: float | None          # % on --eval when it has labels


@dataclass(frozen=True)
class DistillReport(Report):
    kind = "distill"
    schema_version = 1

    teacher: str
    student: str
    output: str
    student_model: str                  # the trained float student (.keras)
    epochs: int
    temperature: float
    hard_weight: float
    labels_used: bool
    train_samples: int
    history: dict[str, list[float]]
    evaluated_on: str
    eval_samples: int
    models: list[ModelFigures]
    chosen_int8: str | None             # the --optimize accuracy step the int8 student came from
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    edgelite_version: str = __version__


def _load_student(path: Path) -> tuple[Any, Any]:
    """The student Keras model (loaded safely) and an Adam optimizer class of the same Keras."""
    from edgelite.converter.loading import load_source

    with load_source(path) as src:
        model = src.keras_model
    if model is None:
        raise UserInputError(f"{path}: a plain SavedModel has no trainable Keras layers; pass the student as "
                             ".keras or .h5")
    if type(model).__module__.startswith("tf_keras"):
        import tf_keras

        return model, tf_keras.optimizers.Adam
    import keras

    return model, keras.optimizers.Adam


def _save_student(model: Any, path: Path) -> None:
    with atomic_path(path) as tmp:  # renamed into place with the mode open() would give it, not 0600
        model.save(tmp)


def _latency_ms(model_bytes: bytes, sample: np.ndarray) -> float:
    from edgelite.core.files import native_stderr_captured
    from edgelite.runtime.bench import time_invokes
    from edgelite.runtime.model import Model

    with native_stderr_captured():
        m = Model.from_bytes(model_bytes, threads=1)
    m.run_one(sample)   # sets the (quantized) input once; the timed runs reuse it
    times, _ = time_invokes(m, LATENCY_RUNS, 5)
    return round(float(np.median(times)) * 1e3, 4)


def distill(dc: DistillConfig, *, log: Log = lambda line: None) -> DistillReport:
    """Train ``dc.student`` on ``dc.convert.model``'s outputs over ``dc.convert.calib``, write the int8 student
    to ``dc.convert.output`` and scorer everything on ``dc.convert.eval``."""
    from edgelite.calibration import collect, open_source
    from edgelite.converter.convert import convert
    from edgelite.converter.kd_loss import fit, outputs_are_probabilities
    from edgelite.converter.prepare import prepared

    t_start = time.perf_counter()
    cfg = dc.convert
    dc.validate()
    warnings = cfg.validate()
    timings: dict[str, float] = {}
    student_path = dc.student_output
    with prepared(cfg, warnings) as prep, tempfile.TemporaryDirectory(prefix="edgelite-distill-") as tmp_name:
        tmp = Path(tmp_name)
        teacher = prep.src.keras_model
        if teacher is None:
            raise UserInputError(f"{cfg.model}: the teacher must be a .keras or .h5 model (a plain SavedModel "
                                 "gives no batched Keras call to train against)")
        source = open_source(cfg.calib, class_names=prep.labels) if cfg.calib else None
        assert source is not None
        train = collect(source, prep.spec, prep.sample_shape, None, cfg.seed, desc="training data")
        train_x = single_input(train.x, "distill")
        if train.y is None and not dc.labels_optional:
            raise UserInputError(f"{cfg.calib}: no labels (SRC/<class>/ folders or an .npz with y); add "
                                 "--labels-optional to train on the teacher's outputs alone")
        student, adam = _load_student(dc.student)
        s_shape = tuple(int(d) for d in student.input_shape[1:] if d is not None)
        if s_shape != tuple(prep.sample_shape):
            raise UserInputError(f"{dc.student}: takes input {s_shape} but the teacher takes "
                                 f"{tuple(prep.sample_shape)}; distill needs the same input")
        t_out = np.asarray(teacher(train_x[:8], training=False))
        s_out = np.asarray(student(train_x[:8], training=False))
        if t_out.reshape(len(t_out), -1).shape != s_out.reshape(len(s_out), -1).shape:
            raise UserInputError(f"{dc.student}: outputs {s_out.shape[1:]} but the teacher outputs "
                                 f"{t_out.shape[1:]}; the student must predict the same classes")
        if outputs_are_probabilities(s_out) != outputs_are_probabilities(t_out):
            raise UserInputError(f"{dc.student}: one of teacher and student ends in softmax and the other does "
                                 "not; give both the same head")
        ev = prep.eval_data(cfg)
        before = tmp / "student_before.tflite"
        convert(dataclasses.replace(cfg, model=Path(dc.student), output=before, mode=QuantMode.FLOAT32, io=None,
                                    calib=None, eval=None, optimize=None))
        timings["prepare_s"] = time.perf_counter() - t_start

        t0 = time.perf_counter()
        labels_used = train.y is not None and dc.hard_weight > 0
        history = fit(student, lambda xb: np.asarray(teacher(xb, training=False)), train_x,
                      optimizer=adam(dc.learning_rate), epochs=dc.epochs, batch_size=dc.batch_size,
                      temperature=dc.temperature, probabilities=outputs_are_probabilities(t_out), seed=cfg.seed,
                      y=train.y if labels_used else None, hard_weight=dc.hard_weight, log=log, what="distillation")
        _save_student(student, student_path)
        timings["train_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        float_cfg = dataclasses.replace(cfg, mode=QuantMode.FLOAT32, io=None, calib=None, eval=None, optimize=None)
        teacher_f32, student_f32 = tmp / "teacher_f32.tflite", tmp / "student_f32.tflite"
        convert(dataclasses.replace(float_cfg, output=teacher_f32))
        convert(dataclasses.replace(float_cfg, model=student_path, output=student_f32))
        teacher_int8 = tmp / "teacher_int8.tflite"
        convert(dataclasses.replace(cfg, output=teacher_int8, optimize=None))
        report = convert(dataclasses.replace(cfg, model=student_path, optimize="accuracy"), log=log)
        warnings.extend(report.warnings)
        timings["convert_s"] = time.perf_counter() - t0
        files = {"teacher float32": teacher_f32.read_bytes(), "teacher int8": teacher_int8.read_bytes(),
                 "student before": before.read_bytes(), "student float32": student_f32.read_bytes(),
                 "student int8": cfg.output.read_bytes()}

    t0 = time.perf_counter()
    scorer = Scorer(files["teacher float32"], ev.x, ev.y)
    rows = []
    first = single_input(ev.x, "distill")[0]
    for name, data in files.items():
        rows.append(ModelFigures(name=name, size_bytes=len(data), latency_ms=_latency_ms(data, first),
                                 held_out=held_out_figures(scorer, data), top1=scorer.score(data).top1))
    timings["judge_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    return DistillReport(
        teacher=str(cfg.model), student=str(dc.student), output=str(cfg.output), student_model=str(student_path),
        epochs=dc.epochs, temperature=dc.temperature, hard_weight=dc.hard_weight if labels_used else 0.0,
        labels_used=labels_used, train_samples=int(len(train_x)), history=history, evaluated_on=str(cfg.eval),
        eval_samples=int(len(ev.x)), models=rows, chosen_int8=report.optimize.chosen if report.optimize else None,
        timings={k: round(v, 3) for k, v in timings.items()}, warnings=warnings)
