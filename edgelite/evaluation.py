"""Float reference vs candidate on an evaluation source: what ``compare`` and ``check`` both run.

It sits above ``runtime`` (the models, the comparison) and ``calibration`` (reading the data) because it needs
both; neither imports TensorFlow, so this runs on a board.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from edgelite.errors import UserInputError
from edgelite.runtime.compare import CompareReport, compare
from edgelite.runtime.preprocess import PreprocessSpec


def compare_on(reference: Any, candidate: Any, data: str | os.PathLike[str], *, samples: int | None = None,
               seed: int = 0, spec: PreprocessSpec | None = None) -> CompareReport:
    """Compare ``reference`` (a ``Model`` or the converter's ``TFReference``) and ``candidate`` (a ``Model``) on ``data`` (image folder, .npy or .npz).

    ``spec`` defaults to the candidate's embedded preprocessing; ``samples`` takes a seeded subset.
    """
    from edgelite.calibration import collect, open_source

    ref_shape = tuple(reference.sample_shape)
    if ref_shape != tuple(candidate.sample_shape):
        raise UserInputError(f"{reference.path} takes {ref_shape} but "
                             f"{candidate.path} takes {tuple(candidate.sample_shape)}; compare two versions of "
                             "the same model")
    source = open_source(data, class_names=candidate.labels)
    got = collect(source, spec if spec is not None else candidate.spec, candidate.sample_shape, samples, seed,
                  desc="eval data", shuffle=samples is not None)
    names = candidate.labels or source.class_names
    report = compare(reference, candidate, got.x, got.y, candidate_is_int8=candidate.quantized, class_names=names)
    if got.skipped:
        report = dataclasses.replace(report, warnings=report.warnings + [
            f"{len(got.skipped)} unreadable image(s) skipped in {data}, e.g. {got.skipped[0]}"])
    return report
