"""Runs: what one model produced on a set of samples, kept apart from any comparison of two of them.

A ``Runner`` is anything that runs one float sample and times its own compute (``Model`` for .tflite files on
any backend, the converter's ``TFReference`` for Keras/SavedModel sources). ``run_samples`` drives one over
samples into a ``Run``: outputs by name (stacked over samples), sample ids, per-invoke times, labels if known,
the runner's description and optional reduced intermediate tensors. ``Run.save``/``Run.load`` keep it as one
.npz (numpy arrays, never pickles) with a ``run.json`` member, so a board's run can be compared elsewhere.

Caps when loading (a run file may come from another machine): the file at most ``EDGELITE_MAX_RUN_BYTES``
(default 1 GiB), at most ``MAX_RUN_MEMBERS`` members, each array's header checked and capped by
``calibration.arrays`` (``EDGELITE_MAX_ARRAY_BYTES``, default 256 MiB), ``run.json`` at most
``MAX_RUN_JSON_BYTES``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.files import atomic_path
from edgelite.core.limits import env_cap
from edgelite.core.report import _plain
from edgelite.core.version import __version__
from edgelite.runtime.device import fingerprint

if TYPE_CHECKING:
    from edgelite.calibration.multi_input import Inputs, MultiSource, Samples
    from edgelite.calibration.sources import DataSource

RUN_FORMAT = "edgelite-run"
RUN_VERSION = 1
MAX_RUN_BYTES_DEFAULT = 1024 * 1024 * 1024
MAX_RUN_BYTES_ENV = "EDGELITE_MAX_RUN_BYTES"
MAX_RUN_MEMBERS = 64            # the cap calibration.arrays.read_npz applies, stated here for save too
MAX_RUN_JSON_BYTES = 64 * 1024 * 1024
_JSON = "run.json"
_FIX = "re-create it with `edgelite run MODEL INPUT --save-run FILE.npz`"


class Runner(Protocol):
    """One model, whatever its kind: run one float sample (no batch axis) into its outputs (batch axis kept),
    time the model's own compute into ``last_invoke_s``, describe itself (JSON-ready, ``CompareSide``'s keys)."""

    last_invoke_s: float
    size_bytes: int

    def run_one(self, sample: np.ndarray | tuple[np.ndarray, ...]) -> list[np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...


def summary_stats(tensor: np.ndarray) -> np.ndarray:
    """The default reduction of one sample's intermediate tensor: min, max, mean, standard deviation."""
    t = np.asarray(tensor, dtype=np.float64)
    return np.array([t.min(), t.max(), t.mean(), t.std()]) if t.size else np.full(4, np.nan)


@dataclass(frozen=True, eq=False)
class Run:
    """One runner's results on N samples. ``outputs`` keeps the runner's output order; every array is
    (N, ...); ``times_s`` are per-invoke seconds; ``origin`` (not saved) names where it came from in messages."""

    outputs: dict[str, np.ndarray]
    ids: tuple[str, ...]
    times_s: np.ndarray
    description: dict[str, Any]
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    quantized: bool | None = None            # integer activations (a .tflite runner says; None: unknown)
    intermediates: dict[str, np.ndarray] = field(default_factory=dict)
    device: dict[str, Any] | None = None     # the machine it ran on (``DeviceInfo.to_dict()``)
    edgelite_version: str = __version__
    origin: str = ""

    def __post_init__(self) -> None:
        n = len(self.ids)
        where = self.origin or "run"
        if not self.outputs:
            raise UserInputError(f"{where}: a run needs at least one output")
        bad = [name for name, a in {**self.outputs, **self.intermediates}.items() if a.ndim < 1 or len(a) != n]
        if bad or self.times_s.shape != (n,) or (self.labels is not None and self.labels.shape != (n,)):
            raise UserInputError(f"{where}: its arrays do not hold one row per sample id ({n}); {_FIX}")

    @property
    def samples(self) -> int:
        return len(self.ids)

    @property
    def path(self) -> str:
        return str(self.description.get("path", self.origin))

    def save(self, path: str | os.PathLike[str]) -> None:
        """One .npz (arrays as .npy members, plus ``run.json``), written atomically with the umask's mode."""
        arrays = {f"output_{i}": a for i, a in enumerate(self.outputs.values())}
        arrays.update({f"intermediate_{i}": a for i, a in enumerate(self.intermediates.values())})
        arrays["times_s"] = np.asarray(self.times_s, dtype=np.float64)
        if self.labels is not None:
            arrays["labels"] = np.asarray(self.labels, dtype=np.int64)
        if len(arrays) + 1 > MAX_RUN_MEMBERS:
            raise UserInputError(f"{path}: a run file holds at most {MAX_RUN_MEMBERS - 1} arrays, this run has "
                                 f"{len(arrays)}; reduce fewer intermediate tensors")
        meta = {"format": RUN_FORMAT, "version": RUN_VERSION, "edgelite_version": self.edgelite_version,
                "outputs": list(self.outputs), "intermediates": list(self.intermediates), "ids": list(self.ids),
                "labelled": self.labels is not None,
                "class_names": None if self.class_names is None else list(self.class_names),
                "quantized": self.quantized, "device": self.device, "description": self.description}
        with atomic_path(path, suffix=".tmp") as tmp:
            import zipfile

            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                zf.writestr(_JSON, json.dumps(meta, allow_nan=False))
                for key, arr in arrays.items():
                    with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                        np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Run:
        """A run saved by ``save``; a file that is not one (or breaks a cap) is a one-line ``UserInputError``."""
        from edgelite.calibration.arrays import read_npz

        p = Path(path)
        meta = _read_meta(p)
        outputs = _str_list(meta, "outputs", p)
        intermediates = _str_list(meta, "intermediates", p)
        ids = tuple(_str_list(meta, "ids", p))
        labelled = meta.get("labelled")
        if not outputs or not isinstance(labelled, bool):
            raise UserInputError(f"{p}: run.json names no outputs or has no 'labelled' flag; {_FIX}")
        keys = ([f"output_{i}" for i in range(len(outputs))] + [f"intermediate_{i}" for i in range(len(intermediates))]
                + ["times_s"] + (["labels"] if labelled else []))
        arrays = read_npz(p, tuple(keys), required=tuple(keys))
        times = arrays["times_s"]
        if times.dtype.kind != "f" or not np.all(np.isfinite(times)) or np.any(times < 0):
            raise UserInputError(f"{p}: times_s must be finite seconds ≥ 0; {_FIX}")
        labels = arrays.get("labels")
        if labels is not None and (labels.dtype.kind not in "iu" or (labels.size and labels.min() < 0)):
            raise UserInputError(f"{p}: labels must be class indices ≥ 0; {_FIX}")
        for key in keys:
            if arrays[key].dtype.kind not in "biuf":
                raise UserInputError(f"{p}[{key}]: holds {arrays[key].dtype} values, not numbers; {_FIX}")
        class_names = meta.get("class_names")
        if class_names is not None:
            class_names = tuple(_str_list(meta, "class_names", p))
        quantized = meta.get("quantized")
        description = meta.get("description")
        if quantized not in (True, False, None) or not _valid_description(description):
            raise UserInputError(f"{p}: run.json's description or quantized flag is malformed; {_FIX}")
        assert isinstance(description, dict)
        dev = meta.get("device")
        if dev is not None and not _valid_device(dev):
            raise UserInputError(f"{p}: run.json's device is malformed; {_FIX}")
        version = meta.get("edgelite_version")
        return cls(outputs={name: arrays[f"output_{i}"] for i, name in enumerate(outputs)}, ids=ids,
                   times_s=times.astype(np.float64), description=description,
                   labels=None if labels is None else labels.astype(np.int64), class_names=class_names,
                   quantized=quantized,
                   intermediates={name: arrays[f"intermediate_{i}"] for i, name in enumerate(intermediates)},
                   device=dev, edgelite_version=version if isinstance(version, str) else "unknown", origin=str(p))


def _read_meta(p: Path) -> dict[str, Any]:
    """``run.json`` of a run file, after the file-level caps (size, member count)."""
    cap = env_cap(MAX_RUN_BYTES_ENV, MAX_RUN_BYTES_DEFAULT, "bytes")
    try:
        size = p.stat().st_size
    except FileNotFoundError:
        raise UserInputError(f"{p}: no such run file; save one with `edgelite run MODEL INPUT --save-run FILE.npz`"
                             ) from None
    if p.is_dir():
        raise UserInputError(f"{p}: is a folder, expected a run file (.npz)")
    if size > cap:
        raise UserInputError(f"{p}: {size:,} bytes, over the {cap:,}-byte cap for a run file; record fewer "
                             f"samples, or raise the cap with {MAX_RUN_BYTES_ENV}")
    import zipfile  # here, not at the top: `edgelite run` without --save-run never needs it

    try:
        with zipfile.ZipFile(p) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_RUN_MEMBERS:
                raise UserInputError(f"{p}: {len(infos)} members, over the cap of {MAX_RUN_MEMBERS} in a run file")
            info = next((i for i in infos if i.filename == _JSON), None)
            if info is None:
                raise UserInputError(f"{p}: not an edgelite run file (no {_JSON} inside); {_FIX}")
            if info.file_size > MAX_RUN_JSON_BYTES:
                raise UserInputError(f"{p}: {_JSON} inflates to {info.file_size:,} bytes, over the "
                                     f"{MAX_RUN_JSON_BYTES:,}-byte cap; {_FIX}")
            with zf.open(info) as fh:
                raw = fh.read(MAX_RUN_JSON_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:   # ValueError: zipfile on forged headers
        raise UserInputError(f"{p}: not a run file (a zip of .npy arrays and {_JSON}: "
                             f"{' '.join(str(exc).split()) or type(exc).__name__}); {_FIX}") from None
    try:
        meta = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserInputError(f"{p}: {_JSON} is not valid JSON ({' '.join(str(exc).split())[:200]}); {_FIX}"
                             ) from None
    if not isinstance(meta, dict) or meta.get("format") != RUN_FORMAT:
        raise UserInputError(f"{p}: not an edgelite run file ({_JSON} has no format {RUN_FORMAT!r}); {_FIX}")
    if meta.get("version") != RUN_VERSION:
        raise UserInputError(f"{p}: run file version {meta.get('version')!r}, this edgelite reads {RUN_VERSION}; "
                             f"{_FIX} with this version")
    return meta


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _str_list(meta: dict[str, Any], key: str, p: Path) -> list[str]:
    value = meta.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UserInputError(f"{p}: run.json's {key!r} must be a list of strings; {_FIX}")
    if key in ("outputs", "intermediates") and len(set(value)) != len(value):
        raise UserInputError(f"{p}: run.json names an entry of {key!r} twice; {_FIX}")
    return value


# What CompareSide reads of a description, with the JSON types each must have.
_DESCRIPTION_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,), "kind": (str,), "size_bytes": (int,), "backend": (str,), "backend_version": (str,)}
_OPTIONAL_TYPES: dict[str, tuple[type, ...]] = {
    "threads": (int, type(None)), "xnnpack": (bool, type(None)), "delegates": (list, type(None)),
    "inputs": (list, type(None)), "outputs": (list, type(None)), "metadata": (dict, type(None))}


def _valid_description(d: Any) -> bool:
    if not isinstance(d, dict):
        return False
    if any(not isinstance(d.get(k), t) or isinstance(d.get(k), bool) and bool not in t
           for k, t in _DESCRIPTION_TYPES.items()):
        return False
    return all(k not in d or isinstance(d[k], t) for k, t in _OPTIONAL_TYPES.items())


def _valid_device(d: Any) -> bool:
    """``DeviceInfo``'s fields with their JSON types (renderers and the int8 warning read them)."""
    if not isinstance(d, dict) or not all(isinstance(d.get(k), str) for k in ("cpu_model", "arch", "os", "python")):
        return False
    cores, simd = d.get("cores"), d.get("simd")
    return (cores is None or type(cores) is int) and isinstance(simd, list) and all(isinstance(s, str) for s in simd)


def output_names(runner: Runner, count: int) -> list[str]:
    """The runner's output names from its description (``outputs[*].name``: a ``TensorSummary`` or a dict with
    a "name" key, as the converter's ``TFReference`` describes them), else ``output_0``, …"""
    described = runner.describe().get("outputs")
    names = [_name_of(t) for t in described] if isinstance(described, list) else []
    if len(names) == count and all(isinstance(n, str) for n in names) and len(set(names)) == count:
        return [str(n) for n in names]
    return [f"output_{i}" for i in range(count)]


def _in_runner_order(runner: Runner, x: Inputs) -> Iterator[tuple[np.ndarray, ...]]:
    """``x``'s samples with their arrays put in the runner's input order (matched by name: the data's names
    are the model's inputs, a converted file's tensor names wrap them)."""
    described = runner.describe().get("inputs")
    names = [_name_of(t) for t in described] if isinstance(described, list) else []
    if len(names) != len(x.names) or not all(names):
        yield from x
        return
    from edgelite.calibration.multi_input import match_inputs

    order = match_inputs([str(n) for n in names], x.names, where=str(runner.describe().get("path", "model")))
    yield from x.placed(order, [str(n) for n in names])


def _name_of(t: Any) -> str | None:
    name = t.get("name") if isinstance(t, dict) else getattr(t, "name", None)
    return name if isinstance(name, str) else None


def run_samples(runner: Runner, x: Samples, ids: Sequence[str] | None = None, *,
                labels: np.ndarray | None = None, class_names: Sequence[str] | None = None,
                tap: Callable[[], Mapping[str, np.ndarray]] | None = None,
                reduce: Callable[[np.ndarray], np.ndarray] = summary_stats,
                progress: str | None = None) -> Run:
    """Run ``runner`` on each float sample of ``x`` (N, ...) once, in order: one invoke per sample, as a board
    serves requests. ``ids`` default to the sample indices. ``tap``, called after each invoke, returns
    intermediate tensors by name; ``reduce`` shrinks each to a small array kept per sample. ``progress``
    names a progress bar (none by default: a board's ``edgelite run`` should not pay for tqdm's import)."""
    n = len(x)
    if n == 0:
        raise UserInputError("no samples to run on")
    ids = tuple(str(i) for i in range(n)) if ids is None else tuple(str(i) for i in ids)
    if len(ids) != n:
        raise UserInputError(f"{n} samples need {n} sample ids, got {len(ids)}")
    samples: Any = x
    # an Inputs can only exist once its module is imported: a board's one-input run never pays for the import
    multi = sys.modules.get("edgelite.calibration.multi_input")
    if multi is not None and isinstance(x, multi.Inputs):   # each sample's arrays in the runner's input order
        samples = _in_runner_order(runner, x)
    if progress is not None:
        from edgelite.core.progress import bar  # tqdm costs ~45 ms: only evaluation loops show progress

        samples = bar(samples, desc=progress, unit="img", total=n)
    per_output: list[list[np.ndarray]] = []
    mids: dict[str, list[np.ndarray]] = {}
    times = np.empty(n, dtype=np.float64)
    for k, sample in enumerate(samples):
        outs = runner.run_one(sample if isinstance(sample, tuple) else np.asarray(sample))
        times[k] = runner.last_invoke_s
        if not per_output:
            per_output = [[] for _ in outs]
        if len(outs) != len(per_output):
            raise UserInputError(f"{runner.describe().get('path')}: gave {len(outs)} outputs for sample {ids[k]} "
                                 f"but {len(per_output)} before")
        for store, out in zip(per_output, outs, strict=True):
            # one sample per invoke: drop the batch axis of 1 the runner keeps
            store.append(out[0] if out.ndim and out.shape[0] == 1 else out)
        for name, tensor in (tap() if tap is not None else {}).items():
            mids.setdefault(name, []).append(np.asarray(reduce(tensor)))
    try:
        stacked = [np.stack(store) for store in per_output]
        reduced = {name: np.stack(values) for name, values in mids.items()}
    except ValueError:
        raise UserInputError(f"{runner.describe().get('path')}: output shapes change from sample to sample; a run "
                             "stacks one shape per output") from None
    description = _plain(runner.describe())
    quantized = getattr(runner, "quantized", None)   # Model has it; a TensorFlow reference is float
    return Run(outputs=dict(zip(output_names(runner, len(stacked)), stacked, strict=True)), ids=ids,
               times_s=times, description=description,
               labels=None if labels is None else np.asarray(labels, dtype=np.int64),
               class_names=None if class_names is None else tuple(class_names),
               quantized=quantized if isinstance(quantized, bool) else None, intermediates=reduced,
               device=fingerprint().to_dict(),
               origin=str(description.get("path", "")))


def sample_ids(source: DataSource | MultiSource, indices: np.ndarray) -> list[str]:
    """Ids that name the same sample on any machine: an image's path inside the data folder (``3/x.png``),
    an array row's index."""
    if source.kind != "images":
        return [str(int(i)) for i in indices]
    root = Path(source.name)
    ids = []
    for i in indices:
        item = Path(source.items[int(i)])
        try:
            ids.append(item.relative_to(root).as_posix())
        except ValueError:
            ids.append(item.as_posix())
    return ids


def same_samples(reference: Run, candidate: Run) -> None:
    """Refuse two runs that are not over the same samples in the same order (the one-line error names both)."""
    a, b = reference, candidate
    if a.ids == b.ids:
        return
    if a.samples != b.samples:
        raise UserInputError(f"{a.origin or 'reference'} has {a.samples} samples but {b.origin or 'candidate'} "
                             f"has {b.samples}; record both runs on the same inputs")
    k = next(i for i, (u, v) in enumerate(zip(a.ids, b.ids, strict=True)) if u != v)
    raise UserInputError(f"{a.origin or 'reference'} and {b.origin or 'candidate'} are not over the same samples: "
                         f"sample {k} is {a.ids[k]!r} in one and {b.ids[k]!r} in the other; record both runs "
                         "on the same inputs, in the same order")
