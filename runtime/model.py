"""``Model``: a .tflite file ready to run, with quantization, preprocessing and labels handled for the caller."""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgelite.calibration.preprocess import ImageLike, PreprocessSpec
from edgelite.core import metrics
from edgelite.core.errors import UserInputError
from edgelite.runtime import metadata as md
from edgelite.runtime import tflite_file
from edgelite.runtime.backends import Backend, DelegateSpec, load_delegates, select_backend
from edgelite.runtime.native_log import filtered_stderr
from edgelite.runtime.tensors import TensorInfo
from edgelite.runtime.tensors import tensor_info as _tensor_info
from edgelite.runtime.tensors import to_tensor as _to_tensor

if TYPE_CHECKING:
    from edgelite.calibration.multi_input import InputSlot

# LiteRT takes an int32 thread count; past a few hundred threads nothing gets faster on any board.
MAX_THREADS = 1024


def _locked(method: Any) -> Any:
    """Run a method under the model's lock (set inputs → invoke → read outputs must not interleave)."""

    @functools.wraps(method)
    def wrapper(self: Model, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Model:
    """A loaded .tflite model.

    ``predict`` takes floats (quantized for you), images, image paths, or a batch of any of these. Batches run
    one sample per ``invoke()`` — the way a board serves requests, and it keeps XNNPACK's plan for batch 1.
    Thread safety: a ``Model`` may be shared between threads; calls that touch the interpreter are serialized
    by a lock (one interpreter has one set of tensors). For parallel throughput load one ``Model`` per thread.
    """

    def __init__(self, path: Path, content: bytes, backend: Backend, interpreter: Any, threads: int | None,
                 xnnpack: bool, metadata: md.ModelMetadata, delegates: Sequence[str] = ()) -> None:
        self.path = path
        self.content = content  # the interpreter keeps this same object alive; holding it costs nothing
        self.size_bytes = len(content)
        self.backend = backend
        self.threads = threads
        self.xnnpack = xnnpack
        self.delegates = list(delegates)
        self._interp = interpreter
        self._lock = threading.RLock()
        self.metadata = metadata
        self.spec: PreprocessSpec | None = metadata.spec
        self._refresh_tensors()
        for t in self.inputs + self.outputs:
            if t.dtype.kind in "iu" and t.scale and not np.isfinite(t.scale):
                # Quantizing or dequantizing with it would give NaN scores and still exit 0.
                raise UserInputError(f"{path}: tensor {t.name!r} has quantization scale {t.scale}; the file is "
                                     "corrupt — re-create it")
        labels = metadata.labels
        self.labels: tuple[str, ...] | None = labels if md.labels_match_output(labels, self.outputs[0].shape) else None
        self.last_invoke_s = 0.0
        # False once a failed resize or invoke could not be undone: a server replaces such an interpreter
        self.healthy = True

    def _refresh_tensors(self) -> None:
        self.inputs = [_tensor_info(d) for d in self._interp.get_input_details()]
        self.outputs = [_tensor_info(d) for d in self._interp.get_output_details()]

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backend: str = "auto", threads: int | None = None,
             xnnpack: bool = True, delegates: list[DelegateSpec] | None = None, probe: bool = False,
             probe_cache: bool = True) -> Model:
        """Load a .tflite file with a backend (``auto``, ``litert``, ``tflite-runtime``, ``tf``), optionally
        without XNNPACK and with external delegates.

        ``probe=True`` first loads and invokes the file once in a child process (``runtime.isolation``), so a
        corrupt file that would crash the interpreter natively is a ``UserInputError`` instead (the CLI always
        probes). A clean probe is remembered by content hash, so it costs one short process start per file and
        runtime; ``probe_cache=False`` probes every time (see ``runtime.probe_cache``)."""
        p = Path(path)
        content = tflite_file.read_model_bytes(p)  # cheap checks first: missing file, wrong identifier
        if probe:
            from edgelite.runtime.isolation import probe as run_probe

            run_probe(p, backend=backend, xnnpack=xnnpack, delegates=[(d.path, d.options) for d in delegates or []],
                      content=content, cache=probe_cache)
        return cls.from_bytes(content, p, backend=backend, threads=threads, xnnpack=xnnpack, delegates=delegates)

    @classmethod
    def from_bytes(cls, content: bytes, name: str | os.PathLike[str] = "<memory>", *, backend: str = "auto",
                   threads: int | None = None, xnnpack: bool = True,
                   delegates: list[DelegateSpec] | None = None) -> Model:
        """Load a model held in memory (``name`` is used in messages).

        An image input with dynamic height/width (shape signature -1) is resized to the embedded spec's size
        before tensors are allocated; without a spec it keeps the converter's placeholder shape.
        """
        p = Path(name)
        if threads is not None and not 1 <= threads <= MAX_THREADS:
            raise UserInputError(f"threads must be between 1 and {MAX_THREADS}, got {threads}")
        tflite_file.check_tflite_bytes(content, p)
        chosen = select_backend(backend)
        loaded = load_delegates(chosen, list(delegates or []))
        try:
            interp = chosen.make(content, threads, xnnpack, loaded)
            if not interp.get_input_details() or not interp.get_output_details():
                raise UserInputError(f"{p}: the model has no inputs or no outputs; the file is corrupt")
            first = _tensor_info(interp.get_input_details()[0])
            hw = (first.shape[1], first.shape[2]) if len(first.shape) == 4 and min(first.shape_signature) > 0 else None
            metadata = md.read(content, input_hw=hw, where=str(p))
            _fit_dynamic_input(interp, first, metadata.spec)
            with filtered_stderr():  # LiteRT announces XNNPACK here, once per process
                interp.allocate_tensors()
        except (ValueError, RuntimeError, IndexError) as exc:
            # IndexError: LiteRT's C++ std::out_of_range ("_Map_base::at") on indices a hostile file sets
            text = str(exc).strip()
            _raise_if_custom_op(text, content, p, chosen.name)
            raise UserInputError(f"{p}: {chosen.name} cannot load this model: "
                                 f"{text.splitlines()[0] if text else type(exc).__name__}") from None
        return cls(p, content, chosen, interp, threads, xnnpack, metadata, [d.path for d in delegates or []])

    # ---- inputs --------------------------------------------------------------------------------------------
    @property
    def input(self) -> TensorInfo:
        return self.inputs[0]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.input.shape[1:]

    @property
    def slots(self) -> tuple[InputSlot, ...]:
        """Every input as data sees it, in ``inputs`` order: its name, one sample's shape, and the preprocessing
        for image inputs (``multi_input.is_image_input``; the only input of a single-input model)."""
        from edgelite.calibration.multi_input import InputSlot, spec_for

        if len(self.inputs) == 1:
            return (InputSlot(self.input.name, tuple(self.sample_shape), self.spec),)
        return tuple(InputSlot(t.name, tuple(t.shape[1:]), spec_for(self.spec, t.shape[1:])) for t in self.inputs)

    @_locked
    def with_spec(self, spec: PreprocessSpec | None) -> Model:
        """Override the embedded preprocessing (for example from command-line flags)."""
        if spec is not None:
            self.spec = spec
            if _fit_dynamic_input(self._interp, self.input, spec):
                self._interp.allocate_tensors()
                self._refresh_tensors()
        return self

    def prepare(self, x: Any) -> np.ndarray:
        """Anything ``predict`` accepts → a float32 batch shaped (N, *sample_shape)."""
        if isinstance(x, (str, os.PathLike)) or _is_image(x):
            return self._prepare_images([x])
        if isinstance(x, np.ndarray) and x.dtype.kind == "f":
            arr = x.astype(np.float32, copy=False)
            if arr.shape == self.sample_shape:
                arr = arr[None]
            if arr.shape[1:] != self.sample_shape:
                raise UserInputError(
                    f"input shape {arr.shape} does not fit the model input {self.input.shape} "
                    f"(expected (N, {', '.join(map(str, self.sample_shape))}))"
                )
            if not np.isfinite(arr).all():
                raise UserInputError("input contains NaN or Inf values")
            return arr
        if isinstance(x, np.ndarray) and x.dtype.kind in "iu":
            # Integer arrays are pixels: one image (HxW[xC]) or a batch (NxHxW[xC]).
            # HxW and HxWx{1,3,4} are one image; NxHxW and NxHxWxC are batches.
            single = x.ndim == 2 or (x.ndim == 3 and x.shape[-1] in (1, 3, 4))
            return self._prepare_images([x] if single else list(x))
        if isinstance(x, Sequence) and not isinstance(x, (bytes, str)):
            return np.concatenate([self.prepare(item) for item in x]) if len(x) else self._empty()
        if isinstance(x, np.ndarray):
            raise UserInputError(f"a {x.dtype} array cannot be model input; pass float (model-ready) or integer "
                                 "(pixel) arrays")
        raise UserInputError(f"cannot use {type(x).__name__} as model input; pass floats, images or paths")

    def _empty(self) -> np.ndarray:
        return np.zeros((0, *self.sample_shape), np.float32)

    def _prepare_images(self, images: Iterable[ImageLike]) -> np.ndarray:
        if self.spec is None:
            raise UserInputError(
                f"{self.path}: has no preprocessing metadata, so images cannot be fed to it; pass float arrays, "
                "or give --input-size/--mean/--std (or convert it with edgelite so the spec is embedded)"
            )
        inp = self.input
        batch = np.stack([self.spec.apply_for_input(im, inp.dtype, inp.scale, inp.zero_point) for im in images])
        if batch.shape[1:] != self.sample_shape:
            raise UserInputError(
                f"preprocessing gives {batch.shape[1:]} but {self.path} expects {self.sample_shape}; "
                "check --input-size and --color"
            )
        return batch

    # ---- running -------------------------------------------------------------------------------------------
    @_locked
    def run_one(self, sample: np.ndarray | tuple[np.ndarray, ...]) -> list[np.ndarray]:
        """One float sample (no batch axis; for a multi-input model a tuple, one array per input in ``inputs``
        order) → dequantized outputs (batch axis kept). Times ``invoke()`` only."""
        if isinstance(sample, tuple):
            if len(sample) != len(self.inputs):
                raise UserInputError(f"{self.path}: has {len(self.inputs)} inputs; got {len(sample)} arrays")
            resized = False
            for t, part in zip(self.inputs, sample, strict=True):
                if tuple(t.shape) != (1, *part.shape) and t.shape_signature[0] == -1:
                    # an earlier run() resized the batch; go back to batch 1
                    self._interp.resize_tensor_input(t.index, [1, *part.shape], strict=True)
                    resized = True
            if resized:
                self._interp.allocate_tensors()
                self._refresh_tensors()
            for t, part in zip(self.inputs, sample, strict=True):
                if tuple(t.shape) != (1, *part.shape):
                    raise UserInputError(f"{self.path}: input {t.name!r} takes {tuple(t.shape[1:])}, got "
                                         f"{part.shape}")
                self._interp.set_tensor(t.index, t.quantize(part[None]))
            self._invoke()
            return [o.dequantize(self._output(o)) for o in self.outputs]
        if self.input.shape != (1, *sample.shape) and self.input.shape_signature[0] == -1:
            # an earlier run() resized the batch; go back to batch 1
            self._interp.resize_tensor_input(self.input.index, [1, *sample.shape], strict=True)
            self._interp.allocate_tensors()
            self._refresh_tensors()
        self._interp.set_tensor(self.input.index, self.input.quantize(sample[None]))
        self._invoke()
        return [o.dequantize(self._output(o)) for o in self.outputs]

    def _output(self, o: TensorInfo) -> np.ndarray:
        try:
            out: np.ndarray = self._interp.get_tensor(o.index)
            return out
        except (ValueError, IndexError):
            # LiteRT: "Tensor data is null" — nothing in the graph writes this output (a file without operators).
            raise UserInputError(f"{self.path}: output {o.name!r} holds no data after running the model (no "
                                 "operator produces it); the file is corrupt — re-create it") from None

    @_locked
    def invoke_raw(self) -> float:
        """Invoke on whatever the input tensors hold; returns seconds (for benchmarks)."""
        self._invoke()
        return self.last_invoke_s

    def _invoke(self, call: Any = None) -> Any:
        """``invoke()`` (or a signature runner call), timed into ``last_invoke_s`` — the one clock every run,
        benchmark and comparison reads — with LiteRT's runtime errors turned into one-line errors.

        LiteRT reports an unresolved custom op only here, at the first invoke, not when loading.
        """
        try:
            t0 = time.perf_counter()
            result = call() if call is not None else self._interp.invoke()
            self.last_invoke_s = time.perf_counter() - t0
            return result
        except (RuntimeError, IndexError) as exc:   # IndexError: a C++ std::out_of_range inside LiteRT
            text = str(exc).strip()
            _raise_if_custom_op(text, self.content, self.path, self.backend.name)
            raise UserInputError(f"{self.path}: {self.backend.name} failed to run the model: "
                                 f"{text.splitlines()[0] if text else 'RuntimeError'}") from None

    @_locked
    def set_raw_input(self, array: np.ndarray, index: int = 0) -> None:
        """Set input ``index`` to an array already in the tensor's dtype and shape (for benchmarks)."""
        self._interp.set_tensor(self.inputs[index].index, array)

    # ---- named, multi-input/multi-output ---------------------------------------------------------------------
    @property
    def signatures(self) -> list[str]:
        """Signature keys of the model (empty for files converted without signatures)."""
        return list(self._interp.get_signature_list())

    @_locked
    def run(self, inputs: np.ndarray | dict[str, np.ndarray], *, signature: str | None = None
            ) -> dict[str, np.ndarray]:
        """Run by tensor name: ``{name: array}`` in (a bare array for single-input models), ``{name: array}`` out.

        Float arrays are quantized for quantized inputs; arrays already in the tensor's integer dtype pass as
        they are. Outputs are dequantized. Shapes must match the tensor, or differ only where the model's
        shape signature is dynamic (-1): then the input is resized on demand (batch > 1 included).
        With ``signature``, the model's signature runner is used and names are the signature's names.
        """
        if signature is not None:
            named: dict[str, np.ndarray] = self._run_signature(inputs, signature)
            return named
        feeds = self._by_name(inputs, [t.name for t in self.inputs])
        changed = []
        for t in self.inputs:
            arr = feeds[t.name]
            if tuple(arr.shape) != t.shape:
                if len(arr.shape) != len(t.shape_signature) or any(
                        want not in (-1, got) for want, got in zip(t.shape_signature, arr.shape, strict=True)):
                    raise UserInputError(f"{self.path}: input {t.name!r} takes shape {list(t.shape_signature)} "
                                         f"(-1 = any), got {list(arr.shape)}")
                if 0 in arr.shape:   # XNNPACK cannot plan an empty tensor, and the failed plan sticks
                    raise UserInputError(f"{self.path}: input {t.name!r} got shape {list(arr.shape)}, which holds "
                                         "no values; send at least one sample")
                changed.append(t)
        if changed:
            self._resize({t.index: tuple(feeds[t.name].shape) for t in changed})
        for t in self.inputs:
            self._interp.set_tensor(t.index, _to_tensor(feeds[t.name], t))
        try:
            self._invoke()
        except UserInputError:   # what _invoke makes of LiteRT's runtime errors: plan again for the next call
            self.healthy = self._replan()
            raise
        return {o.name: o.dequantize(self._output(o)) for o in self.outputs}

    def _resize(self, shapes: dict[int, tuple[int, ...]]) -> None:
        """Resize inputs (by tensor index) and re-plan; on failure put back the shapes that worked, so one bad
        request cannot leave the interpreter unusable for the next (``healthy`` says whether that worked)."""
        before = {t.index: t.shape for t in self.inputs}
        try:
            for index, shape in shapes.items():
                self._interp.resize_tensor_input(index, list(shape), strict=True)
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError) as exc:
            try:
                for index, shape in before.items():
                    self._interp.resize_tensor_input(index, list(shape), strict=True)
                self.healthy = self._replan()
            except (RuntimeError, ValueError):
                self.healthy = False
            text = str(exc).strip()
            raise UserInputError(f"{self.path}: {self.backend.name} cannot run input shape(s) "
                                 f"{[list(s) for s in shapes.values()]}: "
                                 f"{text.splitlines()[0] if text else type(exc).__name__}") from None
        self._refresh_tensors()

    def _replan(self) -> bool:
        """Allocate tensors for the current shapes again; False when even that fails (replace the model)."""
        try:
            self._interp.allocate_tensors()
        except (RuntimeError, ValueError):
            return False
        self._refresh_tensors()
        return True

    @_locked
    def _run_signature(self, inputs: np.ndarray | dict[str, np.ndarray], key: str) -> dict[str, np.ndarray]:
        if key not in self.signatures:
            raise UserInputError(f"{self.path}: no signature {key!r}; it has {', '.join(self.signatures) or 'none'}")
        runner = self._interp.get_signature_runner(key)
        in_details = {n: _tensor_info(d) for n, d in runner.get_input_details().items()}
        feeds = self._by_name(inputs, list(in_details))
        tensors = {n: _to_tensor(feeds[n], in_details[n]) for n in in_details}
        raw = self._invoke(lambda: runner(**tensors))
        out_details = {n: _tensor_info(d) for n, d in runner.get_output_details().items()}
        return {n: out_details[n].dequantize(v) for n, v in raw.items()}

    def _by_name(self, inputs: np.ndarray | dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
        if not isinstance(inputs, dict):
            if len(names) != 1:
                raise UserInputError(f"{self.path}: has {len(names)} inputs ({', '.join(names)}); pass a dict by name")
            inputs = {names[0]: inputs}
        missing, unknown = set(names) - set(inputs), set(inputs) - set(names)
        if missing or unknown:
            raise UserInputError(f"{self.path}: inputs are {', '.join(names)}; "
                                 f"missing {sorted(missing) or '-'}, unknown {sorted(unknown) or '-'}")
        return {n: np.asarray(v) for n, v in inputs.items()}

    def predict_all(self, x: Any) -> list[np.ndarray]:
        """Every output for a batch, dequantized, each shaped (N, ...). A multi-input model takes ``Inputs`` or
        ``{input name: (N, ...) float array}`` (names as in ``inputs``, or the signature keys they wrap)."""
        if len(self.inputs) != 1:
            per_sample = [self.run_one(s) for s in self._multi_batch(x)]
        else:
            per_sample = [self.run_one(s) for s in self.prepare(x)]
        if not per_sample:
            return [np.zeros((0, *o.shape[1:]), np.float32) for o in self.outputs]
        return [np.concatenate([r[k] for r in per_sample]) for k in range(len(self.outputs))]

    def _multi_batch(self, x: Any) -> list[tuple[np.ndarray, ...]]:
        """A multi-input batch as per-sample tuples in ``inputs`` order."""
        from edgelite.calibration.multi_input import Inputs, match_inputs

        if isinstance(x, dict):
            if not x:
                raise UserInputError(f"{self.path}: no inputs given; pass {{name: array}} for "
                                     f"{', '.join(t.name for t in self.inputs)}")
            arrays = tuple(np.asarray(v) for v in x.values())
            if len({len(a) for a in arrays}) != 1:
                counts = ", ".join(f"{k}: {len(a)}" for k, a in zip(x, arrays, strict=True))
                raise UserInputError(f"{self.path}: inputs have different batch sizes ({counts}); give each the "
                                     "same N")
            x = Inputs(tuple(map(str, x)), arrays)
        if not isinstance(x, Inputs):
            raise UserInputError(f"{self.path}: has {len(self.inputs)} inputs "
                                 f"({', '.join(t.name for t in self.inputs)}); pass {{name: array}}, one per input")
        order = match_inputs([t.name for t in self.inputs], x.names, where=str(self.path))
        for j, k in enumerate(order):
            t, a = self.inputs[k], x.arrays[j]
            if a.dtype.kind != "f" or a.shape[1:] != tuple(t.shape[1:]):
                raise UserInputError(f"{self.path}: input {t.name!r} takes float arrays (N, "
                                     f"{', '.join(map(str, t.shape[1:]))}), got {a.dtype} {a.shape}")
        placed = x.placed(order, [t.name for t in self.inputs])
        return [tuple(np.asarray(a, np.float32) for a in sample) for sample in placed]

    def predict(self, x: Any) -> np.ndarray | dict[str, np.ndarray]:
        """A batch's output (N, ...), dequantized to float32 — for a model with several outputs all of them,
        ``{name: (N, ...)}`` in the file's order (``predict_all`` gives them as a list)."""
        outs = self.predict_all(x)
        if len(outs) == 1:
            return outs[0]
        return {o.name: a for o, a in zip(self.outputs, outs, strict=True)}

    def classify(self, image: Any, top_k: int = 5) -> list[tuple[str, float]]:
        """Top-k (label, score) for one input; labels fall back to class indices."""
        return self.top_labels(self.predict_all(image)[self.class_output][0], top_k)

    @property
    def class_output(self) -> int:
        """The output ``classify`` reads: the one with one value per label, else the first."""
        if self.labels:
            fit = [k for k, o in enumerate(self.outputs) if md.labels_match_output(self.labels, tuple(o.shape))]
            if fit:
                return fit[0]
        return 0

    def top_labels(self, scores: np.ndarray, top_k: int = 5) -> list[tuple[str, float]]:
        """Top-k (label, score) of one sample's output scores; labels fall back to class indices."""
        flat = scores.reshape(-1)
        names = self.labels or tuple(str(i) for i in range(flat.size))
        return [(names[i], float(flat[i])) for i in metrics.topk_indices(flat, top_k)]

    @functools.cached_property
    def quantized(self) -> bool:
        """True when activations are integer (full-integer or int16x8 models), not just the weights."""
        return tflite_file.is_quantized(self.content)

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "kind": "tflite", "size_bytes": self.size_bytes,
            "backend": self.backend.name, "backend_version": self.backend.version,
            "threads": self.threads, "xnnpack": self.xnnpack, "delegates": self.delegates,
            "inputs": [t.summary() for t in self.inputs], "outputs": [t.summary() for t in self.outputs],
            "metadata": self.metadata.summary(),
        }


def _raise_if_custom_op(text: str, content: bytes, path: Path, backend: str) -> None:
    if "custom op" not in text.lower():
        return
    custom = sorted({op.op_type.split(":", 1)[1] for op in tflite_file.op_inventory(content)
                     if op.op_type.startswith("CUSTOM:")})
    raise UserInputError(
        f"{path}: custom op(s) {', '.join(custom) or '?'} are not available in {backend}; "
        "load a delegate that provides them (--delegate) or use a runtime built with them"
    )


def _fit_dynamic_input(interp: Any, t: TensorInfo, spec: PreprocessSpec | None) -> bool:
    """Resize a dynamic-size image input to the spec's size (batch 1); True when a resize happened."""
    if spec is None or len(t.shape_signature) != 4 or min(t.shape_signature[1:]) > 0:
        return False
    want = (1, *spec.input_shape)
    if tuple(t.shape) == want:
        return False
    interp.resize_tensor_input(t.index, list(want), strict=True)
    return True


def _is_image(x: Any) -> bool:
    from PIL import Image

    return isinstance(x, Image.Image)
