"""A float .tflite's own metadata as the defaults of its conversion.

A third-party float model may say how it wants its input (standard TFLite metadata: normalization mean/std, the
input's colour space) and what its classes are (a ``TENSOR_AXIS_LABELS`` associated file); a float model
edgelite wrote says it in its own entry. Those become the defaults of ``--mean``/``--std``/``--color``/
``--labels``: a flag still wins, with a one-line notice of what it changed. Metadata that cannot be read is a
warning, not an error: the model itself may be fine, so it converts with the flags. Reading is the runtime's
(``runtime/metadata.py``, ``metadata_summary``); nothing here raises for the metadata's sake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgelite.converter.config import ConvertConfig
from edgelite.core.errors import UserInputError
from edgelite.runtime import metadata as md
from edgelite.runtime import tflite_file
from edgelite.runtime.metadata_summary import standard_summary
from edgelite.runtime.tflite_file import CORRUPT_ERRORS, Slot

# edgelite's own defaults when neither the flags nor the file say (inputs in [0, 1])
DEFAULT_MEAN, DEFAULT_STD = (0.0,), (255.0,)
_COLOR_SPACES = {"RGB": "rgb", "GRAYSCALE": "gray"}   # the standard's ColorSpaceType names edgelite knows


@dataclass(frozen=True)
class SourceMetadata:
    """What a float .tflite says about its own preprocessing and labels (None: it says nothing)."""

    name: str                                  # the file's name, for notices
    origin: str                                # "edgelite", "standard", "none" or "unreadable"
    inputs: int = 1
    channels: int | None = None                # last axis of the first input when it is 4-D
    output_shape: tuple[int, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color: str | None = None                   # rgb | gray (standard), also bgr (edgelite's entry)
    labels: tuple[str, ...] | None = None
    labels_file: str | None = None
    other_files: tuple[str, ...] = ()          # associated files the output does not carry
    problem: str | None = None                 # why the metadata could not be read or used

    @property
    def normalization(self) -> str:
        return f"mean {_values(self.mean or DEFAULT_MEAN)}, std {_values(self.std or DEFAULT_STD)}"


def _values(v: tuple[float, ...]) -> str:
    return " ".join(f"{x:g}" for x in v) if len(v) == 1 else "[" + ", ".join(f"{x:g}" for x in v) + "]"


def _io(data: bytes) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """(number of inputs, first input shape, first output shape) of the main subgraph."""
    sg = tflite_file.model_view(data).table_at(Slot.MODEL_SUBGRAPHS, 0)
    tensors = sg.vector(Slot.SUBGRAPH_TENSORS, 4)
    ins, outs = sg.numbers(Slot.SUBGRAPH_INPUTS, "i4"), sg.numbers(Slot.SUBGRAPH_OUTPUTS, "i4")
    if tensors is None or ins is None or outs is None or not len(ins) or not len(outs):
        raise ValueError("no inputs or outputs")

    def shape(i: int) -> tuple[int, ...]:
        dims = sg.table_at(Slot.SUBGRAPH_TENSORS, int(i)).numbers(Slot.TENSOR_SHAPE, "i4")
        return tuple(int(d) for d in dims) if dims is not None else ()

    return len(ins), shape(ins[0]), shape(outs[0])


def read(path: Path, data: bytes | None = None) -> SourceMetadata:
    """The metadata of the float .tflite at ``path`` (``data``: its bytes, when already read). A flatbuffer
    LiteRT cannot read is the loader's error; metadata that cannot be read is ``origin="unreadable"``."""
    data = tflite_file.read_model_bytes(path) if data is None else data
    name = path.name
    try:
        inputs, in_shape, out_shape = _io(data)
    except CORRUPT_ERRORS as exc:
        return SourceMetadata(name, "unreadable", problem=f"its graph cannot be read ({type(exc).__name__})")
    channels = in_shape[-1] if len(in_shape) == 4 else None
    base = SourceMetadata(name, "none", inputs, channels, out_shape)
    try:
        meta = md.read(data, input_hw=(1, 1), where=name)   # (1, 1): only mean/std/colour are read from it
        summary = standard_summary(data, where=name)
    except UserInputError as exc:
        return _replace(base, origin="unreadable", problem=str(exc).removeprefix(f"{name}: "))
    except CORRUPT_ERRORS as exc:   # a reader's check missed: still the metadata's fault, not the model's
        return _replace(base, origin="unreadable", problem=f"{type(exc).__name__}: {exc}")
    mean = std = color = None
    if meta.source == "edgelite" and meta.spec is not None:
        mean, std, color = meta.spec.mean, meta.spec.std, meta.spec.color
    elif summary is not None and summary.inputs:
        first = summary.inputs[0]
        if first.normalization is not None:
            mean, std = tuple(first.normalization.mean), tuple(first.normalization.std)
        color = _COLOR_SPACES.get(first.color_space or "")
    labels_file = None
    if summary is not None:
        labels_file = next((f.name for t in summary.outputs for f in t.associated_files
                            if f.type == "TENSOR_AXIS_LABELS" and f.name in summary.packed_files), None)
    found = _replace(base, origin=meta.source, mean=mean, std=std, color=color,
                     labels=meta.labels or None, labels_file=labels_file if meta.labels else None,
                     other_files=tuple(sorted(set(summary.packed_files) - {labels_file})) if summary else ())
    return _checked(found)


def _replace(m: SourceMetadata, **changes: object) -> SourceMetadata:
    import dataclasses

    return dataclasses.replace(m, **changes)  # type: ignore[arg-type]  # keyword names are the fields'


def _checked(m: SourceMetadata) -> SourceMetadata:
    """Drop what does not fit the graph (a colour or per-channel values for another channel count, labels that
    are not one per class of the output), saying why in ``problem``."""
    problems = []
    c = m.channels if m.channels in (1, 3) else None   # preprocessing applies to image inputs only
    if c is None:
        m = _replace(m, color=None)
    elif m.color is not None and (m.color == "gray") != (c == 1):
        problems.append(f"its colour space ({m.color}) does not fit the {c}-channel input; not used")
        m = _replace(m, color=None)
    if (m.mean or m.std) and (c is None or any(len(v or ()) not in (1, c) for v in (m.mean, m.std))
                              or any(s == 0 for s in m.std or ())):
        problems.append(f"its normalization ({m.normalization}) does not fit the input "
                        f"{'(not an image)' if c is None else f'({c} channels)'}; not used")
        m = _replace(m, mean=None, std=None)
    if m.labels and not md.labels_match_output(m.labels, m.output_shape):
        problems.append(f"its {m.labels_file} ({len(m.labels)} labels) is not one label per class of the output "
                        f"{list(m.output_shape)}; not carried (edgelite's labels are a classifier's)")
        m = _replace(m, labels=None, labels_file=None)
    return _replace(m, problem="; ".join(problems)) if problems else m


def preprocessing(cfg: ConvertConfig, m: SourceMetadata | None) -> tuple[tuple[float, ...], tuple[float, ...],
                                                                          str | None]:
    """(mean, std, colour) of the conversion: each flag, else the file's value, else edgelite's default (colour
    None: from the input's channel count)."""
    file_mean, file_std, file_color = (m.mean, m.std, m.color) if m is not None and m.inputs == 1 else (None,) * 3
    return (cfg.mean or file_mean or DEFAULT_MEAN, cfg.std or file_std or DEFAULT_STD, cfg.color or file_color)


def for_source(path: Path) -> SourceMetadata | None:
    """The metadata of a float .tflite source (None for other sources, as ``loading.load_source`` tells them)."""
    return read(path) if path.suffix == ".tflite" and path.is_file() else None


def notices(cfg: ConvertConfig, m: SourceMetadata) -> list[str]:
    """One line for each thing the conversion takes from the file, each flag that overrides it, and what the
    output cannot carry."""
    out: list[str] = []
    if m.origin == "unreadable":
        return [f"{m.name}: its metadata cannot be read ({m.problem}); converting with the flags and edgelite's "
                f"defaults ({_given(cfg)})"]
    if m.problem:
        out.append(f"{m.name}: {m.problem}")
    if m.inputs != 1 and (m.mean or m.std or m.color):
        out.append(f"{m.name}: its normalization is not applied to a model with {m.inputs} inputs; the flags "
                   "apply to each image input")
        m = _replace(m, mean=None, std=None, color=None)
    said = m.mean is not None or m.std is not None or m.color is not None or m.labels is not None
    if not said and m.channels in (1, 3):   # an image model: its mean/std matter and nothing said them
        kind = "no metadata" if m.origin == "none" else "metadata without normalization or labels"
        out.append(f"{m.name} carries {kind}: converting with {_given(cfg)}"
                   + ("" if cfg.mean or cfg.std else " (edgelite's default, inputs in [0, 1]); give --mean/--std "
                      "as the model was trained, e.g. --mean 127.5 --std 127.5 for inputs in [-1, 1]"))
    pairs = (("--mean", "mean", cfg.mean, m.mean), ("--std", "std", cfg.std, m.std))
    overridden = [f"{flag} {_values(mine)}" for flag, _, mine, theirs in pairs
                  if mine and theirs and tuple(mine) != tuple(theirs)]
    if overridden:
        verb = "overrides" if len(overridden) == 1 else "override"
        kept = [f"its {name} {_values(theirs)} is kept" for _, name, mine, theirs in pairs if theirs and not mine]
        out.append(f"{' '.join(overridden)} {verb} the file's normalization ({m.normalization})"
                   + "".join(f"; {k}" for k in kept))
    elif m.mean or m.std:
        out.append(f"normalization from {m.name}'s metadata: {m.normalization}")
    if m.color and cfg.color and cfg.color != m.color:
        out.append(f"--color {cfg.color} overrides the file's colour space ({m.color})")
    if m.labels:
        if cfg.labels is not None:
            out.append(f"--labels {cfg.labels.name} overrides the file's {len(m.labels)} labels ({m.labels_file})")
        else:
            out.append(f"{len(m.labels)} labels from {m.name}'s {m.labels_file}")
    if m.other_files:
        out.append(f"associated files of {m.name} not carried into the output (edgelite packs its labels file "
                   f"only): {', '.join(m.other_files)}")
    return out


def _given(cfg: ConvertConfig) -> str:
    mean, std = cfg.mean or DEFAULT_MEAN, cfg.std or DEFAULT_STD
    return f"{'--mean' if cfg.mean else 'mean'} {_values(tuple(mean))} {'--std' if cfg.std else 'std'} " \
           f"{_values(tuple(std))}"
