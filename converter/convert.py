"""``convert``: source model → calibrated TFLite with the preprocessing contract and labels inside the file."""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from typing import Any

import numpy as np

from edgelite import __version__
from edgelite._util import atomic_write_bytes, native_stderr_captured, path_size, sha256_path
from edgelite.calibration import collect, open_source
from edgelite.converter.config import ConvertConfig, IOType, QuantMode
from edgelite.converter.loading import SourceModel, import_tf, load_source
from edgelite.converter.report import ConvertReport
from edgelite.errors import ConversionError, UserInputError
from edgelite.runtime import metadata as md
from edgelite.runtime import tflite_file
from edgelite.runtime.model import Model
from edgelite.runtime.preprocess import PreprocessSpec


def resolve_spec(cfg: ConvertConfig, src: SourceModel) -> PreprocessSpec | None:
    """Preprocessing from the flags, defaulting to the model's input shape. None for non-image inputs."""
    shape = src.input_shape
    if len(shape) != 4:
        if cfg.input_size or cfg.color:
            raise UserInputError(f"{cfg.model}: input shape {shape} is not an image (N,H,W,C); "
                                 "drop --input-size/--color and calibrate with arrays")
        return None
    _, h, w, c = shape
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
    color = cfg.color or ("gray" if c == 1 else "rgb")
    if (color == "gray") != (c == 1):
        raise UserInputError(f"{cfg.model}: model input has {c} channel(s) but --color is {color}; "
                             f"use --color {'gray' if c == 1 else 'rgb or bgr'}")
    return PreprocessSpec(height=int(h), width=int(w), color=color, resize=cfg.resize,
                          mean=cfg.mean or (0.0,), std=cfg.std or (255.0,))


def _set_mode(converter: Any, tf: Any, cfg: ConvertConfig, representative: np.ndarray | None) -> None:
    ops = tf.lite.OpsSet
    if cfg.mode is QuantMode.FLOAT32:
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if cfg.mode is QuantMode.FLOAT16:
        converter.target_spec.supported_types = [tf.float16]
        return
    if cfg.mode is QuantMode.DYNAMIC:
        return
    assert representative is not None
    converter.representative_dataset = lambda: ([sample[None]] for sample in representative)
    if cfg.mode is QuantMode.INT8:
        converter.target_spec.supported_ops = [ops.TFLITE_BUILTINS_INT8] + (
            [ops.TFLITE_BUILTINS] if cfg.allow_float_ops else [])
        io = {IOType.INT8: tf.int8, IOType.UINT8: tf.uint8, IOType.FLOAT32: tf.float32}[cfg.io_type]
        converter.inference_input_type = converter.inference_output_type = io
    else:
        converter.target_spec.supported_ops = [ops.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8] + (
            [ops.TFLITE_BUILTINS] if cfg.allow_float_ops else [])


def _run_converter(src: SourceModel, cfg: ConvertConfig, representative: np.ndarray | None) -> bytes:
    tf = import_tf()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(src.saved_model_dir))
    _set_mode(converter, tf, cfg, representative)
    with native_stderr_captured() as log:
        try:
            return bytes(converter.convert())
        except Exception as exc:  # noqa: BLE001 - the converter raises ConverterError and plain Exceptions
            raise ConversionError(_converter_message(cfg, exc), details=log.read_text(errors="replace")) from None


def _converter_message(cfg: ConvertConfig, exc: BaseException) -> str:
    text = str(exc)
    ops = sorted(set(re.findall(r"'(tfl|tf)\.([A-Za-z0-9_]+)'", text)))
    names = ", ".join(f"{a}.{b}" for a, b in ops[:8])
    first = next((line.strip() for line in text.splitlines() if "error" in line.lower()), text.strip()[:300])
    hint = " (--allow-float-ops keeps unsupported ops float)" if cfg.mode.needs_calibration else ""
    return f"{cfg.model}: TFLite converter failed{f' on {names}' if names else ''}: {first}{hint}"


def layer_of(tensor_name: str, layer_names: tuple[str, ...]) -> str | None:
    """The Keras layer a converter tensor name belongs to (names look like ``functional/conv2d_1/Relu``)."""
    parts = re.split(r"[/;:]", tensor_name)
    for part in parts:
        if part in layer_names:
            return part
    return None


def float_ops_report(model_bytes: bytes, layer_names: tuple[str, ...]) -> list[dict[str, str | None]]:
    found = []
    for op in tflite_file.float_compute_ops(model_bytes):
        tensor = op.outputs[0].name if op.outputs else ""
        found.append({"op": op.op_type, "tensor": tensor, "layer": layer_of(tensor, layer_names)})
    return found


def _created_utc() -> str:
    """Now in UTC, or SOURCE_DATE_EPOCH (the reproducible-builds convention) for byte-identical reruns."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and not epoch.isdigit():
        raise UserInputError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch!r}; unset or fix it")
    when = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else dt.datetime.now(dt.timezone.utc)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _provenance(cfg: ConvertConfig, src_hash: str, n_calib: int, created: str) -> dict[str, Any]:
    return {
        "edgelite_version": __version__,
        "source_file": cfg.model.name,
        "source_sha256": src_hash,
        "mode": cfg.mode.value,
        "io": cfg.io_type.value,
        "calibration_samples": n_calib,
        "calibration_seed": cfg.seed if cfg.mode.needs_calibration else None,
        "created_utc": created,
    }


def convert(cfg: ConvertConfig) -> ConvertReport:
    """Convert ``cfg.model`` to ``cfg.output``. Raises ``UserInputError``/``ConversionError``; writes atomically."""
    t_start = time.perf_counter()
    warnings = cfg.validate()
    created = _created_utc()
    labels = md.read_labels_file(cfg.labels) if cfg.labels else None
    src_hash = sha256_path(cfg.model)
    timings: dict[str, float] = {}

    with load_source(cfg.model) as src:
        timings["load_s"] = time.perf_counter() - t_start
        if len(src.input_names) != 1 and cfg.mode.needs_calibration:
            raise UserInputError(f"{cfg.model}: has {len(src.input_names)} inputs; calibration supports "
                                 "single-input models for now")
        spec = resolve_spec(cfg, src)
        if labels and not md.labels_match_output(labels, tuple(d or 0 for d in src.output_shape)):
            raise UserInputError(f"{cfg.labels}: {len(labels)} labels but the model has output shape "
                                 f"{src.output_shape}; give one label per class")
        calib_info: dict[str, Any] = {"requested": 0, "used": 0, "skipped_unreadable": 0, "seed": cfg.seed,
                                      "source": str(cfg.calib) if cfg.calib else None, "class_counts": {}}
        representative = None
        if cfg.mode.needs_calibration:
            t0 = time.perf_counter()
            source = open_source(cfg.calib, class_names=labels)
            got = collect(source, spec, tuple(int(d) for d in src.input_shape[1:] if d is not None)
                          if spec is None else spec.input_shape, cfg.samples, cfg.seed, desc="calibration")
            representative = got.x
            if labels is None and source.class_names and md.labels_match_output(
                    source.class_names, tuple(d or 0 for d in src.output_shape)):
                labels = source.class_names
                warnings.append(f"labels taken from the class folders of {cfg.calib}: {', '.join(labels[:5])}…")
            calib_info.update(requested=cfg.samples, used=len(got.x), skipped_unreadable=len(got.skipped),
                              class_counts=got.class_counts)
            if got.skipped:
                warnings.append(f"{len(got.skipped)} unreadable image(s) skipped in {cfg.calib}, "
                                f"e.g. {got.skipped[0]}")
            if len(got.x) < min(cfg.samples, 50):
                warnings.append(f"only {len(got.x)} calibration samples; 100–500 give steadier int8 ranges")
            timings["calibration_data_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        model_bytes = _run_converter(src, cfg, representative)
        timings["convert_s"] = time.perf_counter() - t0
        float_ops = float_ops_report(model_bytes, src.layer_names) if cfg.mode.needs_calibration else []
        layer_names = src.layer_names

    if float_ops and not cfg.allow_float_ops:
        listed = "; ".join(f"{f['op']} ({f['layer'] or f['tensor']})" for f in float_ops[:6])
        more = f" and {len(float_ops) - 6} more" if len(float_ops) > 6 else ""
        raise ConversionError(
            f"{cfg.model}: {len(float_ops)} op(s) cannot run in {cfg.mode.value}: {listed}{more}; "
            "--allow-float-ops keeps them float (the rest stays quantized)"
        )
    if float_ops:
        warnings.append(f"{len(float_ops)} op(s) stay float: " + ", ".join(sorted({f['op'] for f in float_ops})))
    final = md.embed(model_bytes, spec=spec, labels=labels,
                     provenance=_provenance(cfg, src_hash, calib_info["used"], created),
                     name=cfg.model.stem, description=f"{cfg.model.name} converted by edgelite ({cfg.mode.value})")
    _verify(final, cfg)
    atomic_write_bytes(cfg.output, final)
    timings["total_s"] = time.perf_counter() - t_start
    return ConvertReport(
        source=str(cfg.model), source_kind=src.kind, source_sha256=src_hash, source_size_bytes=path_size(cfg.model),
        output=str(cfg.output), size_bytes=len(final), mode=cfg.mode.value, io=cfg.io_type.value,
        spec=spec.to_dict() if spec else None, labels_count=len(labels) if labels else 0,
        calibration=calib_info, float_ops=float_ops, layers=len(layer_names),
        timings={k: round(v, 3) for k, v in timings.items()}, warnings=warnings,
    )


def _verify(data: bytes, cfg: ConvertConfig) -> None:
    """Load the result in LiteRT before writing it: a file we cannot run is never written."""
    with native_stderr_captured():  # LiteRT's "Created XNNPACK delegate" line is noise here
        model = Model.from_bytes(data, cfg.output)
    want = {IOType.INT8: np.int8, IOType.UINT8: np.uint8, IOType.FLOAT32: np.float32}[cfg.io_type]
    if model.input.dtype != np.dtype(want):
        raise ConversionError(f"{cfg.model}: converter produced {model.input.dtype} input, "
                              f"expected {np.dtype(want)} for --io {cfg.io_type.value}")
