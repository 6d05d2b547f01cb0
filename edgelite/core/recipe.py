"""``Recipe``: how a model is quantized, as one typed record — what ``convert --recipe`` replays.

A recipe is the part of a conversion that decides the numbers in the file: deployment target, quantization mode,
I/O type, activation range method, bias correction, cross-layer equalization, and which layers stay float.
The CLI flags and an ``edgelite.toml`` ``[models.convert]`` table state one (``ConvertOptions.recipe()``);
``ConvertConfig.recipe`` is the one a conversion runs; ``--optimize`` reports each step it tried as one; and
the converted file carries the one that made it (provenance ``recipe``), so ``convert --recipe MODEL.tflite``
(or the ``--json`` report, or a recipe JSON file) makes the same model again from the same source and
calibration data — without searching again.

Layers a search kept float are stored as anchored patterns on their tensor names (``^name$``): exact, not a
guess, for the same source model.

Data only (reading one from a file: ``converter/replay.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from edgelite.core.report import Record


@dataclass(frozen=True)
class Recipe(Record):
    """The quantization choices of one conversion (values are the CLI's choices)."""

    target: str = "litert"                   # litert | mediapipe | gpu
    mode: str = "int8"                       # int8 | int16x8 | float16 | dynamic | float32
    io: str = "int8"                         # int8 | uint8 | float32
    calibration: str = "minmax"              # minmax | percentile[:P] | mse | entropy
    bias_correction: bool = False
    equalize: str | None = None              # activations | weights; None: off
    keep_float: list[str] = field(default_factory=list)       # regexes on layer/tensor names
    keep_float_ops: list[str] = field(default_factory=list)   # op types
    allow_float_ops: bool = False
    float_layers: list[str] = field(default_factory=list)     # the layers kept float, as reports name them

    def with_float_tensors(self, tensors: list[str], labels: list[str]) -> Recipe:
        """This recipe with the given tensors kept float too (as exact patterns), e.g. a search's choice."""
        exact = [f"^{re.escape(t)}$" for t in tensors]
        keep = list(dict.fromkeys([*self.keep_float, *exact]))
        return Recipe(**{**self.__dict__, "keep_float": keep, "float_layers": list(labels)})
