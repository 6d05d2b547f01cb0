"""Load a source model (Keras 3 ``.keras``, legacy ``.h5``, SavedModel) and export it to a SavedModel folder.

The robust path on TF 2.21 / Keras 3 is ``model.export(dir)`` then ``TFLiteConverter.from_saved_model(dir)``
(``from_keras_model`` has known breakage with Keras 3). Loading is always safe: Keras ``safe_mode=True``, and
legacy ``.h5`` files with ``Lambda`` layers (marshalled Python bytecode) are refused before loading.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgelite.core import progress
from edgelite.core.errors import UserInputError
from edgelite.core.files import lazy_import, native_stderr_captured


def import_tf() -> Any:
    """TensorFlow, quietly: its import prints CUDA probes and absl warnings straight to fd 2 on CPU machines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_captured():
        return lazy_import("tensorflow")


def import_tf_quantizer() -> Any:
    """TensorFlow for its MLIR quantizer alone (a float .tflite source): without the Keras 3 import TF's own
    ``__init__`` does eagerly at its end (for SavedModel optimizer registration; measured 3.2 of its 7 s here).
    Keras is kept out only while TensorFlow imports — its ``import keras.src.optimizers`` is inside a
    ``try/except ImportError`` — so a later ``import keras`` works as usual."""
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        return import_tf()
    sys.modules["keras"] = None  # type: ignore[assignment]  # the import system's "not importable" marker
    try:
        tf = import_tf()
    finally:
        del sys.modules["keras"]
    tf.__path__[:] = [p for p in tf.__path__ if p is not None]   # TF puts Keras' folder (None: not found) first
    return tf


@dataclass
class SourceModel:
    path: Path
    kind: str                              # keras | h5-keras3 | h5-tf_keras | saved_model
    saved_model_dir: Path
    input_names: tuple[str, ...]           # in the source's order (Keras: model.inputs; SavedModel: sorted keys)
    input_shape: tuple[int | None, ...]    # first input, batch axis included
    output_shape: tuple[int | None, ...]   # first output
    layer_names: tuple[str, ...] = ()
    keras_model: Any = field(default=None, repr=False)
    signature: Any = field(default=None, repr=False)
    tflite_bytes: bytes | None = field(default=None, repr=False)   # a float .tflite source (converter/tflite_source.py)
    # a PyTorch/ONNX source: how its float .tflite (``tflite_bytes``) was exported (converter/pytorch_source.py)
    export: Any = field(default=None, repr=False)
    # Every input's shape and every output's name and shape, in the source's order (converter/io_names.py
    # gives converted files these names and this order). Empty for a float .tflite source: the file's own.
    input_shapes: tuple[tuple[int | None, ...], ...] = ()
    output_names: tuple[str, ...] = ()
    output_shapes: tuple[tuple[int | None, ...], ...] = ()
    layout: str = "nhwc"                   # image inputs: nchw only for a PyTorch/ONNX source with --keep-layout


def _inspect_h5(path: Path) -> str:
    """Refuse unsafe or weights-only .h5 files before any loader runs; return the saving Keras version."""
    h5py = lazy_import("h5py")
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("model_config")
            version = f.attrs.get("keras_version", b"")
    except OSError as exc:
        raise UserInputError(f"{path}: not a readable HDF5 model ({exc})") from None
    if raw is None:
        raise UserInputError(f"{path}: HDF5 file holds no model_config (weights only?); save the whole model")
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        raise UserInputError(f"{path}: model_config in the HDF5 file is not valid JSON; re-save the model") from None
    if '"class_name": "Lambda"' in json.dumps(config):
        # Legacy .h5 stores a Lambda's Python bytecode (marshal); loading it would run code from the file.
        raise UserInputError(
            f"{path}: has a Lambda layer, whose code would be unmarshalled on load (unsafe); "
            "replace it with a registered custom layer and re-save as .keras"
        )
    return version.decode() if isinstance(version, bytes) else str(version)


@dataclass(frozen=True)
class _IO:
    input_names: tuple[str, ...]
    input_shapes: tuple[tuple[int | None, ...], ...]
    output_names: tuple[str, ...]
    output_shapes: tuple[tuple[int | None, ...], ...]


def _keras_input_output(model: Any) -> _IO:
    """Names and shapes of a Keras model's inputs and outputs, in ``model.inputs``/``model.outputs`` order.

    Outputs are named by ``model.output_names`` (the output layers); a model whose output is a dict is named
    by its keys instead, which are what it returns and what its exported signature calls them."""
    inputs, outputs = model.inputs, model.outputs
    in_names = tuple(str(getattr(t, "name", f"input_{i}")) for i, t in enumerate(inputs))
    structure = getattr(model, "output", None)
    if isinstance(structure, dict):
        key_of = {id(t): k for k, t in structure.items()}
        out_names = [str(key_of.get(id(t), f"output_{i}")) for i, t in enumerate(outputs)]
    else:
        # Sequential has no output_names; its one output is its last layer's
        out_names = list(getattr(model, "output_names", None) or [model.layers[-1].name])
    if len(out_names) != len(outputs):
        out_names = [f"output_{i}" for i in range(len(outputs))]
    return _IO(in_names, tuple(tuple(t.shape) for t in inputs), _unique(out_names),
               tuple(tuple(t.shape) for t in outputs))


def _unique(names: list[str]) -> tuple[str, ...]:
    """``names`` with repeats suffixed ``_1``, ``_2``, … (a layer's tensor can be two outputs; names key runs)."""
    seen: set[str] = set()
    found = []
    for name in names:
        new, k = name, 0
        while new in seen:
            k += 1
            new = f"{name}_{k}"
        seen.add(new)
        found.append(new)
    return tuple(found)


def _load_keras(path: Path, tmp: Path) -> SourceModel:
    import_tf()
    if path.suffix == ".keras":
        model, kind = _load_with_keras3(path), "keras"
    else:
        # tf_keras (Keras 2) files load best with tf_keras, which tfmot also needs; Keras 3 files with Keras 3.
        # Either way, fall back to the other loader: "whichever loads it".
        loaders = [("h5-keras3", _load_with_keras3), ("h5-tf_keras", _load_with_tf_keras)]
        if _inspect_h5(path).startswith("2."):
            loaders.reverse()
        errors = []
        for kind, loader in loaders:  # noqa: B007 - the loader that worked names the kind, read after the loop
            try:
                model = loader(path)
                break
            except UserInputError as exc:
                errors.append(str(exc).split(": ", 1)[-1])
        else:
            raise UserInputError(f"{path}: neither loader can read it: {'; '.join(errors)}")
    out = tmp / "saved_model"
    with contextlib.redirect_stdout(io.StringIO()):  # tf_keras' export() prints its signature listing
        model.export(str(out), verbose=False) if kind != "h5-tf_keras" else model.export(str(out))
    tensors = _keras_input_output(model)
    layers = tuple(layer.name for layer in model.layers)
    return SourceModel(path, kind, out, tensors.input_names, tensors.input_shapes[0], tensors.output_shapes[0],
                       layers, keras_model=model, input_shapes=tensors.input_shapes,
                       output_names=tensors.output_names, output_shapes=tensors.output_shapes)


def _bad_file_errors(tf: Any) -> tuple[type[BaseException], ...]:
    """What Keras 3, tf_keras, h5py and ``tf.saved_model.load`` raise for a file they cannot read — measured
    (TF 2.21, Keras 3.15) on junk, empty, truncated and config-less files, truncated weights and variables, and
    150 random edits of a model's config.json: OSError (h5py, unparsable saved_model.pb), ValueError (and
    JSONDecodeError; safe mode refusing a Lambda), TypeError and AttributeError (a config value of the wrong
    type), KeyError and IndexError, RuntimeError (a layer graph that does not connect; RecursionError) and TF's
    OpError (reading variables). Only the loader runs inside the ``try``, so these are the file's fault;
    anything else (MemoryError, ImportError, an assertion) is not a bad file and goes up as what it is."""
    return (OSError, ValueError, TypeError, AttributeError, LookupError, RuntimeError, EOFError,
            zipfile.BadZipFile, tf.errors.OpError)


def _load_with(path: Path, name: str, load_model: Any) -> Any:
    try:
        return load_model(path, compile=False, safe_mode=True)
    except _bad_file_errors(import_tf()) as exc:
        raise UserInputError(f"{path}: {name} cannot load it ({_first_line(exc)})") from None


def _load_with_keras3(path: Path) -> Any:
    return _load_with(path, "Keras 3", lazy_import("keras").saving.load_model)


def _load_with_tf_keras(path: Path) -> Any:
    return _load_with(path, "tf_keras", lazy_import("tf_keras").models.load_model)


def _load_saved_model(path: Path) -> SourceModel:
    tf = import_tf()
    if not (path / "saved_model.pb").is_file():
        raise UserInputError(f"{path}: folder has no saved_model.pb; pass a SavedModel folder, .keras or .h5")
    try:
        loaded = tf.saved_model.load(str(path))
    except _bad_file_errors(tf) as exc:
        raise UserInputError(f"{path}: TensorFlow cannot load this SavedModel: {_first_line(exc)}") from None
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise UserInputError(f"{path}: SavedModel has no 'serving_default' signature; export one")
    # A signature's inputs and outputs are keyed dicts with no order of their own: sorted keys are the order
    # (TF's converter keeps the keys as the .tflite signature's keys).
    specs = sig.structured_input_signature[1]
    names = tuple(sorted(specs))
    outs = sig.structured_outputs
    out_names = tuple(sorted(outs)) if isinstance(outs, dict) else ("output_0",)
    out_specs = [outs[k] for k in out_names] if isinstance(outs, dict) else [outs]
    in_shapes = tuple(tuple(specs[n].shape) for n in names)
    out_shapes = tuple(tuple(o.shape) for o in out_specs)
    return SourceModel(path, "saved_model", path, names, in_shapes[0], out_shapes[0], (), signature=sig,
                       input_shapes=in_shapes, output_names=out_names, output_shapes=out_shapes)


@contextlib.contextmanager
def load_source(path: str | os.PathLike[str], *, input_shapes: tuple[tuple[int, ...], ...] = (),
                keep_layout: bool = False) -> Iterator[SourceModel]:
    """Load a model and yield it with a SavedModel folder (a temporary export for Keras files). PyTorch and ONNX
    sources are exported to a float .tflite first (``input_shapes``/``keep_layout`` are theirs)."""
    from edgelite.converter.source_kinds import refuse_unsupported

    refuse_unsupported(os.fspath(path))   # pickles never reach a loader
    p = Path(path)
    from edgelite.converter.pytorch_source import kind_of

    exported = kind_of(path)
    if exported is not None:
        yield from _exported_source(os.fspath(path), exported, input_shapes, keep_layout)
        return
    if not p.exists():
        raise UserInputError(f"{p}: no such model; pass a .keras, .h5 or SavedModel folder")
    if p.suffix == ".tflite" and p.is_file():
        from edgelite.converter.tflite_source import inspect_float_tflite

        data, names, in_shape, out_shape = inspect_float_tflite(p)
        yield SourceModel(p, "tflite", p, names, in_shape, out_shape, (), tflite_bytes=data)
        return
    if not p.is_dir() and p.suffix not in (".keras", ".h5", ".hdf5"):
        raise UserInputError(f"{p}: unknown model type {p.suffix!r}; pass a .keras, .h5, SavedModel folder or a "
                             "float .tflite")
    with tempfile.TemporaryDirectory(prefix="edgelite-export-") as tmp:
        # TF initialises devices on first use and logs CUDA probes to fd 2; keep that out of the user's terminal.
        with progress.working(f"loading {p.name}" + ("" if p.is_dir() else " and exporting a SavedModel")), \
                native_stderr_captured():
            src = _load_saved_model(p) if p.is_dir() else _load_keras(p, Path(tmp))
        yield src


def _exported_source(source: str, kind: str, input_shapes: tuple[tuple[int, ...], ...],
                     keep_layout: bool) -> Iterator[SourceModel]:
    """A PyTorch/ONNX source as a float .tflite source (``tflite_bytes``), with how it was exported."""
    from edgelite.converter.pytorch_source import export_float
    from edgelite.converter.tflite_source import inspect_float_tflite

    with tempfile.TemporaryDirectory(prefix="edgelite-source-") as tmp:
        with progress.working(f"exporting {Path(source).name} with litert-torch"):
            path, made = export_float(source, kind, Path(tmp), input_shapes=input_shapes, keep_layout=keep_layout)
        data, names, in_shape, out_shape = inspect_float_tflite(path)
        layout = "nchw" if keep_layout and any(_nchw(s) for s in made.input_shapes) else "nhwc"
        yield SourceModel(Path(source), made.kind, path, names, in_shape, out_shape, (), tflite_bytes=data,
                          export=made, layout=layout)


def _nchw(shape: tuple[int, ...]) -> bool:
    from edgelite.converter.source_export import is_nchw_image

    return is_nchw_image(list(shape))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
