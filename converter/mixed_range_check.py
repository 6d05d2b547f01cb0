"""Conversion-time check for mixed-range outputs: run the float model on the calibration samples and warn, per
output, when channel groups differ so much that one int8 scale leaves the narrow group a step or two."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.runtime.mixed_range import channel_ranges, message, mixed_groups
from edgelite.runtime.model import Model

# Ranges settle within a few hundred samples; more only costs float-model runs.
MAX_SAMPLES = 256


def mixed_range_warnings(float_model_bytes: bytes, samples: Any, source_kind: str) -> list[str]:
    """One warning line per output of the float model whose channels mix ranges ≥ ``RATIO`` apart on
    ``samples`` ((N, ...) float inputs, or ``Inputs`` for a multi-input model); ``source_kind`` picks the fix."""
    if len(samples) == 0:
        return []
    try:
        model = Model.from_bytes(float_model_bytes, "float model")
        outputs = model.predict_all(samples[:MAX_SAMPLES])
    except UserInputError:
        # a float model LiteRT cannot run as it is (a dynamic input size): the advice is skipped, and the
        # conversion's own steps say what to fix
        return []
    found = []
    for info, out in zip(model.outputs, outputs, strict=True):
        if out.dtype.kind != "f":   # integer outputs (indices, counts) have no scale to share
            continue
        mixed = mixed_groups(channel_ranges(np.asarray(out)))
        if mixed is not None:
            found.append(message(info.name, mixed, source_kind))
    return found
