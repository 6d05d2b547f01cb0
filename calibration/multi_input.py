"""Data for models with several inputs: one source per input, sampled together, row ``i`` of every source
being one sample.

A user names each part by the model's input name, or ``x0``, ``x1``, … in the model's input order: an ``.npz``
with one array per input (plus an optional ``y``), ``--calib NAME=PATH`` per input (image folders for image
inputs, ``.npy``/``.npz`` for the rest), ``from_arrays({name: array})``, or a generator of dicts/tuples.
``bind`` matches the parts to the model's inputs (``InputSlot``) with one-line errors that name the input; the
bound source then loads tuples of per-input samples, which ``collect`` stacks into ``Inputs``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias, overload

import numpy as np

from edgelite.core.errors import UserInputError

if TYPE_CHECKING:
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.calibration.sources import DataSource, Kind

POSITIONAL = re.compile(r"x(\d+)")


@dataclass(frozen=True)
class InputSlot:
    """One model input as data sees it: its name, one sample's shape (no batch axis), and the preprocessing that
    turns images into it (None: the input takes arrays only)."""

    name: str
    shape: tuple[int, ...]
    spec: PreprocessSpec | None = None


@dataclass(frozen=True, eq=False)
class Inputs:
    """N model-ready samples of a multi-input model: one float32 (N, ...) array per input, in the model's input
    order. Indexing a row gives that sample's tuple of arrays; slicing and index arrays give ``Inputs``, so code
    written for one (N, ...) array (``len``, ``x[:64]``, ``for s in x``) works for both."""

    names: tuple[str, ...]
    arrays: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.arrays) or not self.arrays:
            raise ValueError("Inputs needs one array per name")
        if len({len(a) for a in self.arrays}) != 1:
            raise ValueError("every input needs the same number of samples")

    def __len__(self) -> int:
        return len(self.arrays[0])

    @overload
    def __getitem__(self, i: int | np.integer) -> tuple[np.ndarray, ...]: ...

    @overload
    def __getitem__(self, i: slice | np.ndarray | Sequence[int]) -> Inputs: ...

    def __getitem__(self, i: int | np.integer | slice | np.ndarray | Sequence[int]
                    ) -> tuple[np.ndarray, ...] | Inputs:
        if isinstance(i, (int, np.integer)):
            return tuple(a[i] for a in self.arrays)
        return Inputs(self.names, tuple(a[i] for a in self.arrays))

    def __iter__(self) -> Iterator[tuple[np.ndarray, ...]]:
        for k in range(len(self)):
            yield self[k]

    def placed(self, order: Sequence[int], names: Sequence[str]) -> Inputs:
        """The same samples with array ``j`` moved to position ``order[j]`` (``match_inputs``' answer) and named
        ``names`` (the model's inputs): what a model that takes its inputs in another order is fed."""
        arrays: list[np.ndarray] = [np.empty(0)] * len(order)
        for j, k in enumerate(order):
            arrays[k] = self.arrays[j]
        return Inputs(tuple(names), tuple(arrays))

    def by_name(self) -> dict[str, np.ndarray]:
        return dict(zip(self.names, self.arrays, strict=True))


# One model input's N samples, or several inputs' (the type every sample loop takes).
Samples: TypeAlias = np.ndarray | Inputs
# One sample: an array (single-input model) or a tuple of arrays, one per input.
Sample: TypeAlias = np.ndarray | tuple[np.ndarray, ...]


def stack(samples: Sequence[Sample], names: Sequence[str] = ()) -> Samples:
    """Per-sample arrays (or tuples of them) stacked into float32 ``Samples``."""
    if samples and isinstance(samples[0], tuple):
        k = len(samples[0])
        arrays = tuple(np.stack([s[j] for s in samples]).astype(np.float32, copy=False) for j in range(k))
        return Inputs(tuple(names) if names else tuple(f"x{j}" for j in range(k)), arrays)
    return np.stack(samples).astype(np.float32, copy=False)


def first_input(x: Samples) -> np.ndarray:
    """The first input's (N, ...) array: what single-tensor figures (data range warnings, drift) look at."""
    return x.arrays[0] if isinstance(x, Inputs) else x


@dataclass(frozen=True)
class MultiSource:
    """One ``DataSource`` per model input, keyed as the user gave them (input names or ``x0``, ``x1``, …). Before
    ``bind`` it only holds the parts; bound, ``parts`` follow the model's input order and ``slots`` say how each
    part becomes model-ready."""

    name: str
    parts: tuple[tuple[str, DataSource], ...]
    slots: tuple[InputSlot, ...] = ()

    def __len__(self) -> int:
        return len(self.parts[0][1])

    @property
    def _lead(self) -> DataSource:
        """The part that names samples and carries labels: the first image part, else the first."""
        return next((s for _, s in self.parts if s.kind == "images"), self.parts[0][1])

    @property
    def kind(self) -> Kind:
        return self._lead.kind

    @property
    def items(self) -> Sequence[Path] | np.ndarray:
        return self._lead.items

    @property
    def labels(self) -> np.ndarray | None:
        return next((s.labels for _, s in self.parts if s.labels is not None), None)

    @property
    def class_names(self) -> tuple[str, ...] | None:
        return next((s.class_names for _, s in self.parts if s.class_names is not None), None)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)

    def load(self, i: int, spec: PreprocessSpec | None = None, sample_shape: tuple[int, ...] = ()
             ) -> tuple[np.ndarray, ...]:
        """Sample ``i`` of every input, model-ready (``spec``/``sample_shape`` are the bound slots')."""
        if not self.slots:
            raise UserInputError(f"{self.name}: not matched to a model's inputs yet (calibration.bind)")
        return tuple(part.load(i, slot.spec, slot.shape)
                     for (_, part), slot in zip(self.parts, self.slots, strict=True))


def bind(source: DataSource | MultiSource, slots: Sequence[InputSlot], *, model: str = "the model"
         ) -> DataSource | MultiSource:
    """Match data to the model's inputs: a plain source to a single-input model as it is; a multi-part source
    part by part (by input name, or ``x0``, ``x1``, … by position), with one-line errors for a key that is no
    input, a missing input, and parts of different lengths."""
    names = [s.name for s in slots]
    listed = ", ".join(names)
    if not isinstance(source, MultiSource):
        if len(slots) == 1:
            return source
        raise UserInputError(
            f"{source.name}: {model} has {len(slots)} inputs ({listed}) but the data is one array/folder; give an "
            "npz with one array per input (keys: input names, or x0, x1, … in input order) or NAME=PATH per input"
        )
    keys = [k for k, _ in source.parts]
    by_position = all(POSITIONAL.fullmatch(k) for k in keys) and not set(keys) & set(names)
    resolved: dict[str, DataSource] = {}
    for key, part in source.parts:
        name = names[0] if len(names) == 1 and key == "x" else _resolve(key, names, by_position)
        if name is None:
            fix = (f"inputs are {listed}" if not by_position else
                   f"{len(names)} inputs, so keys run x0…x{len(names) - 1}")
            if len(names) == 1:
                fix += "; a single-input model's array may also be named x"
            raise UserInputError(f"{source.name}: {key!r} is no input of {model} ({fix}); rename that array")
        if name in resolved:
            raise UserInputError(f"{source.name}: input {name!r} is given twice; give one array per input")
        resolved[name] = part
    missing = [n for n in names if n not in resolved]
    if missing:
        hint = f"x{names.index(missing[0])}" if by_position else missing[0]
        raise UserInputError(f"{source.name}: no data for input {missing[0]!r} of {model} (inputs: {listed}); add "
                             f"an array named {hint!r}")
    lengths = {n: len(resolved[n]) for n in names}
    if len(set(lengths.values())) != 1:
        shown = ", ".join(f"{n}: {v}" for n, v in lengths.items())
        raise UserInputError(f"{source.name}: inputs have different numbers of samples ({shown}); give every input "
                             "one row per sample")
    for slot in slots:
        part = resolved[slot.name]
        given = tuple(np.asarray(part.items).shape[1:]) if part.kind == "floats" else slot.shape
        if given != slot.shape:
            raise UserInputError(f"{part.name}: input {slot.name!r} takes samples of shape {slot.shape}, the "
                                 f"array's are {given}; reshape it to (N, "
                                 f"{', '.join(map(str, slot.shape))})")
        if part.kind != "floats" and slot.spec is None:
            raise UserInputError(f"{part.name}: input {slot.name!r} is not an image input (shape {slot.shape}); give "
                                 "model-ready float arrays for it")
    parts = tuple((n, resolved[n]) for n in names)
    lead = next((s.name for _, s in parts if s.kind == "images"), source.name)
    return MultiSource(lead, parts, tuple(slots))


def _resolve(key: str, names: Sequence[str], by_position: bool) -> str | None:
    if by_position:
        m = POSITIONAL.fullmatch(key)
        k = int(m.group(1)) if m else -1
        return names[k] if 0 <= k < len(names) else None
    if key in names:
        return key
    # a .tflite's tensor names wrap the signature key: serving_default_<key>:0
    wrapped = [n for n in names if _bare(n) == key]
    return wrapped[0] if len(wrapped) == 1 else None


def _bare(tensor_name: str) -> str:
    name = tensor_name.removeprefix("serving_default_")
    return re.sub(r":\d+$", "", name)


def from_parts(parts: Mapping[str, DataSource] | Sequence[DataSource], *, name: str) -> MultiSource:
    """A multi-input source from named parts (or a sequence: ``x0``, ``x1``, … in order)."""
    items = list(parts.items()) if isinstance(parts, Mapping) else [(f"x{k}", p) for k, p in enumerate(parts)]
    if not items:
        raise UserInputError(f"{name}: no inputs given")
    return MultiSource(name, tuple((str(k), p) for k, p in items))


def shape_of(x: Samples) -> tuple[int, ...] | dict[str, tuple[int, ...]]:
    """One sample's shape (no batch axis), or for ``Inputs`` each input's by name: what a sample loop sizes
    its interpreter's inputs to."""
    if isinstance(x, Inputs):
        return {n: tuple(a.shape[1:]) for n, a in zip(x.names, x.arrays, strict=True)}
    return tuple(x.shape[1:])


def match_inputs(tensor_names: Sequence[str], names: Sequence[str], *, where: str = "the model") -> list[int]:
    """For each of ``names`` (the data's inputs, in their order), the position of the model input it feeds: by
    exact name, then by the signature key inside a converter's tensor name (``serving_default_img:0``); names
    ``x0``, ``x1``, … that are no input's go by position. Any other name that fits no input is refused: feeding
    arrays by position under names that say otherwise would give wrong numbers without a word."""
    if len(names) != len(tensor_names):
        raise UserInputError(f"{where}: has {len(tensor_names)} inputs ({', '.join(tensor_names)}) but the data "
                             f"gives {len(names)} ({', '.join(names)}); give one array per input")
    found: list[int | None] = []
    for n in names:
        exact = [i for i, t in enumerate(tensor_names) if t == n]
        bare = [i for i, t in enumerate(tensor_names) if _bare(t) == _bare(n)]
        found.append(exact[0] if exact else bare[0] if len(bare) == 1 else None)
    if all(f is None for f in found) and all(POSITIONAL.fullmatch(n) and int(n[1:]) == k
                                            for k, n in enumerate(names)):
        return list(range(len(names)))
    if None in found or len(set(found)) != len(found):
        missing = [n for n, f in zip(names, found, strict=True) if f is None]
        raise UserInputError(f"{where}: inputs are {', '.join(tensor_names)}; the data's "
                             f"{', '.join(missing) or 'names'} do not match them one to one; name arrays by input")
    return [int(f) for f in found if f is not None]


def concatenate(parts: Sequence[Samples]) -> Samples:
    """Several batches of samples as one (arrays, or ``Inputs`` with the same names)."""
    if parts and isinstance(parts[0], Inputs):
        first = parts[0]
        if any(not isinstance(p, Inputs) or p.names != first.names for p in parts):
            raise UserInputError("batches for different inputs cannot be joined; give every batch all inputs")
        return Inputs(first.names, tuple(np.concatenate([p.arrays[k] for p in parts])  # type: ignore[union-attr]
                                         for k in range(len(first.names))))
    return np.concatenate(parts)  # type: ignore[arg-type]


def single_input(x: Samples, command: str) -> np.ndarray:
    """``x`` as one array, for the commands that train or time single-input models only."""
    if isinstance(x, Inputs):
        raise UserInputError(f"{command} works on single-input models; this one has {len(x.names)} inputs "
                             f"({', '.join(x.names)})")
    return x


def is_image_input(sample_shape: Sequence[int | None]) -> bool:
    """The one rule for which inputs of a multi-input model take images (and the preprocessing flags): height,
    width and 1 or 3 channels. convert, run, compare and the metadata writer all ask this."""
    return len(sample_shape) == 3 and sample_shape[-1] in (1, 3)


def spec_for(spec: PreprocessSpec | None, sample_shape: Sequence[int | None]) -> PreprocessSpec | None:
    """``spec`` sized for one image input (inputs of one model may differ in size), None for other inputs."""
    import dataclasses

    if spec is None or not is_image_input(sample_shape):
        return None
    h, w = sample_shape[0], sample_shape[1]
    if h and w and h > 0 and w > 0 and (h, w) != (spec.height, spec.width):
        return dataclasses.replace(spec, height=int(h), width=int(w))
    return spec
