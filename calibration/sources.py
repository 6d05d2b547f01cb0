"""Data sources for calibration and evaluation: image folders, .npy/.npz arrays, in-memory arrays, generators.

A folder is flat (unlabelled images) or ``SRC/<class>/*`` (labelled). Integer arrays are 0–255 pixels and go
through the ``PreprocessSpec``; float arrays are taken as model-ready and must match the model's input shape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np

from edgelite.calibration.multi_input import MultiSource, from_parts
from edgelite.calibration.preprocess import IMAGE_EXTENSIONS, PreprocessSpec
from edgelite.core.errors import UserInputError

Kind = Literal["images", "pixels", "floats"]


@dataclass(frozen=True)
class DataSource:
    """Samples not yet preprocessed: image paths or an array, with optional integer labels."""

    name: str
    kind: Kind
    items: Sequence[Path] | np.ndarray
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int, spec: PreprocessSpec | None, sample_shape: tuple[int, ...]) -> np.ndarray:
        """Sample ``i`` as a model-ready float32 array. Unreadable images raise ``UserInputError``."""
        if self.kind == "floats":
            sample = np.asarray(self.items[i], dtype=np.float32)
        else:
            if spec is None:
                raise UserInputError(
                    f"{self.name}: images need preprocessing, but the model has no spec and none was given; "
                    "pass --input-size/--color/--mean/--std"
                )
            sample = spec.apply(self.items[i])
        if sample.shape != tuple(sample_shape):
            what = "arrays" if self.kind == "floats" else "preprocessed images"
            raise UserInputError(
                f"{self.name}: {what} have shape {sample.shape} but the model expects {tuple(sample_shape)}; "
                + ("give arrays of that shape" if self.kind == "floats" else "check --input-size and --color")
            )
        return sample


DataRef: TypeAlias = str | os.PathLike | Mapping[str, str | os.PathLike]


def open_source(path: DataRef, *, class_names: Sequence[str] | None = None) -> DataSource | MultiSource:
    """Open a folder, .npy or .npz — or, for a multi-input model, ``{input: path}`` (one folder or array file per
    input) or an .npz with one array per input. ``class_names`` (the model's labels) map class folders to
    indices. Multi-part sources are matched to the model's inputs by ``multi_input.bind``."""
    if isinstance(path, Mapping):
        return from_parts({str(k): _single(v, class_names, str(k)) for k, v in path.items()}, name=describe(path))
    p = Path(path)
    if p.is_file() and p.suffix.lower() == ".npz":
        return _open_npz(p)
    return _single(p, class_names, None)


def describe(ref: DataRef | None) -> str:
    """A data reference as the user wrote it (``img=photos,meta=m.npy`` for one path per input)."""
    if ref is None:
        return "-"
    if isinstance(ref, Mapping):
        return ",".join(f"{k}={v}" for k, v in ref.items())
    return str(ref)


def _single(path: str | os.PathLike[str], class_names: Sequence[str] | None, part: str | None) -> DataSource:
    p = Path(path)
    if not p.exists():
        raise UserInputError(f"{p}: no such file or folder; pass an image folder, .npy or .npz")
    if p.is_dir():
        return _open_folder(p, class_names)
    if p.suffix.lower() == ".npy":
        return _checked_arrays(str(p), _load_npy(p), None)
    if p.suffix.lower() == ".npz":
        if part is not None:   # one input's file: its array is x, the input's name, or the only member
            from edgelite.calibration.arrays import npz_members, read_npz

            members = npz_members(p)
            inputs = [m for m in members if m != "y"]
            key = "x" if "x" in members else part if part in members else inputs[0] if len(inputs) == 1 else None
            if key is None:
                raise UserInputError(f"{p}: holds {', '.join(members)}; for input {part!r} save one array named x")
            arrays = read_npz(p, (key, "y"))   # only what is used is inflated
            return _checked_arrays(f"{p}[{part}]", arrays[key], arrays.get("y"))
        x, y = _load_npz(p)
        return _checked_arrays(str(p), x, y)
    raise UserInputError(f"{p}: unsupported data file; pass an image folder, .npy or .npz (keys x and optional y)")


def _open_npz(p: Path) -> DataSource | MultiSource:
    """An .npz: ``x`` (+ ``y``) for a single-input model, or one array per input (+ ``y``)."""
    from edgelite.calibration.arrays import npz_members

    members = set(npz_members(p))
    if "x" in members and members <= {"x", "y"}:   # the single-input layout
        x, y = _load_npz(p)
        return _checked_arrays(str(p), x, y)
    arrays = _read_npz_all(p)
    inputs = {k: v for k, v in arrays.items() if k != "y"}
    y = arrays.get("y")
    if not inputs:
        raise UserInputError(f"{p}: holds no input arrays (found: {', '.join(arrays) or 'none'}); save with "
                             "np.savez(path, x=...) or one array per model input")
    return from_parts({k: _checked_arrays(f"{p}[{k}]", v, y if k == next(iter(inputs)) else None)
                       for k, v in inputs.items()}, name=str(p))


def _read_npz_all(p: Path) -> dict[str, np.ndarray]:
    from edgelite.calibration.arrays import read_npz

    return read_npz(p, None)


def from_arrays(x: np.ndarray | Mapping[str, np.ndarray] | tuple[np.ndarray, ...],
                y: Sequence[int] | np.ndarray | None = None, *, name: str = "arrays") -> DataSource | MultiSource:
    """In-memory samples: integer arrays are pixels, float arrays are model-ready. A multi-input model takes
    ``{input name: array}`` or a tuple of arrays in input order (one row per sample in each); a list of
    same-shaped arrays is a list of samples, as before."""
    if isinstance(x, Mapping):
        if not x:
            raise UserInputError(f"{name}: no arrays given; pass one array per model input")
        first = next(iter(x))
        return from_parts({str(k): _checked_arrays(f"{name}[{k}]", np.asarray(v),
                                                   None if y is None or k != first else np.asarray(y))
                           for k, v in x.items()}, name=name)
    if isinstance(x, (tuple, list)) and x and all(isinstance(v, np.ndarray) for v in x) and \
            (isinstance(x, tuple) or len({np.shape(v) for v in x}) > 1):
        # a tuple is one array per input; so is a list of arrays of different shapes (np.asarray would fail on it)
        return from_parts([_checked_arrays(f"{name}[x{k}]", np.asarray(v), None if y is None or k else np.asarray(y))
                           for k, v in enumerate(x)], name=name)
    return _checked_arrays(name, np.asarray(x), None if y is None else np.asarray(y))


Yielded: TypeAlias = np.ndarray | Mapping[str, np.ndarray] | tuple[np.ndarray, ...]


def from_generator(gen: Callable[[], Iterable[Yielded]] | Iterable[Yielded], *, limit: int,
                   name: str = "generator") -> DataSource | MultiSource:
    """Take up to ``limit`` samples from a generator (or a callable returning one) into memory. Each sample is an
    array, or for a multi-input model a dict by input name or a tuple in input order."""
    it = gen() if callable(gen) else gen
    samples: list[Yielded] = []
    for sample in it:
        samples.append(sample)
        if len(samples) >= limit:
            break
    if not samples:
        raise UserInputError(f"{name}: the generator yielded no samples")
    first = samples[0]
    if isinstance(first, Mapping):
        keys = list(first)
        if any(not isinstance(s, Mapping) or list(s) != keys for s in samples):
            raise UserInputError(f"{name}: every yielded dict needs the same keys ({', '.join(map(str, keys))})")
        dicts = [s for s in samples if isinstance(s, Mapping)]
        return from_parts({str(k): _stacked(f"{name}[{k}]", [np.asarray(s[k]) for s in dicts]) for k in keys},
                          name=name)
    if isinstance(first, tuple):
        k = len(first)
        if any(not isinstance(s, tuple) or len(s) != k for s in samples):
            raise UserInputError(f"{name}: every yielded tuple needs {k} arrays, one per input")
        return from_parts([_stacked(f"{name}[x{j}]", [np.asarray(s[j]) for s in samples])  # type: ignore[index]
                           for j in range(k)], name=name)
    return _stacked(name, [np.asarray(s) for s in samples])


def _stacked(name: str, samples: list[np.ndarray]) -> DataSource:
    shapes = {s.shape for s in samples}
    if len(shapes) != 1:
        raise UserInputError(f"{name}: the generator yielded samples of different shapes: {sorted(shapes)}")
    return _checked_arrays(name, np.stack(samples), None)


# ---- folders ------------------------------------------------------------------------------------------------
def _images_in(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)


def _open_folder(p: Path, class_names: Sequence[str] | None) -> DataSource:
    subdirs = sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))
    class_dirs = [d for d in subdirs if _images_in(d)]
    flat = _images_in(p)
    if class_dirs and flat:
        raise UserInputError(
            f"{p}: has both images and class folders; put every image under SRC/<class>/ or use a flat folder"
        )
    if flat:
        return DataSource(str(p), "images", flat)
    if not class_dirs:
        raise UserInputError(f"{p}: no images found ({', '.join(IMAGE_EXTENSIONS[:4])}, …); check the path")
    found = [d.name for d in class_dirs]
    if class_names:
        names = tuple(class_names)
        unknown = [n for n in found if n not in names]
        if unknown:
            raise UserInputError(
                f"{p}: class folder(s) {', '.join(unknown[:5])} are not among the model's labels; "
                "rename the folders to match the labels file"
            )
    else:
        names = tuple(found)
    items, labels = [], []
    for d in class_dirs:
        for f in _images_in(d):
            items.append(f)
            labels.append(names.index(d.name))
    return DataSource(str(p), "images", items, np.asarray(labels, np.int64), names)


# ---- arrays -------------------------------------------------------------------------------------------------
def _load_npy(p: Path) -> np.ndarray:
    from edgelite.calibration.arrays import read_npy

    return read_npy(p)


def _load_npz(p: Path) -> tuple[np.ndarray, np.ndarray | None]:
    from edgelite.calibration.arrays import read_npz

    arrays = read_npz(p, ("x", "y"), required=("x",))
    return arrays["x"], arrays.get("y")


def _nonfinite_rows(x: np.ndarray, chunk: int = 1024) -> int:
    """Samples with a NaN or Inf, counted a chunk of rows at a time (x may be a memory map of a large file)."""
    bad = 0
    for start in range(0, len(x), chunk):
        part = np.asarray(x[start:start + chunk])
        bad += int(np.count_nonzero(~np.isfinite(part).reshape(len(part), -1).all(axis=1)))
    return bad


def _checked_arrays(name: str, x: np.ndarray, y: np.ndarray | None) -> DataSource:
    if x.dtype.kind not in "iuf" or x.ndim < 2:
        raise UserInputError(f"{name}: x must be a numeric array of samples (N, ...), got {x.dtype} {x.shape}")
    if len(x) == 0:
        raise UserInputError(f"{name}: the array holds no samples")
    if 0 in x.shape[1:]:   # a header can declare 10⁹ empty samples in a few bytes: no loop over them
        raise UserInputError(f"{name}: samples of shape {x.shape[1:]} hold no values; give x as (N, H, W, C)")
    bad = _nonfinite_rows(x) if x.dtype.kind == "f" else 0
    if bad:
        raise UserInputError(f"{name}: {bad} sample(s) contain NaN or Inf; clean or drop them")
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(x) or y.dtype.kind not in "iu":
            raise UserInputError(
                f"{name}: y must be integer class indices, one per sample ({len(x)}), got {y.dtype} {y.shape}"
            )
        y = y.astype(np.int64)
    kind: Kind = "floats" if x.dtype.kind == "f" else "pixels"
    return DataSource(name, kind, x, y, None)
