"""The last step of every conversion (``convert`` and ``qat``): embed metadata, verify, write atomically.

One path, so a file from either command carries the same provenance fields, is loaded by LiteRT before it is
written (a file we cannot run is never written) and replaces the output in one rename.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import numpy as np

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.converter import metadata_writer
from edgelite.converter.config import ConvertConfig
from edgelite.core.errors import ConversionError, UserInputError
from edgelite.core.files import atomic_write_bytes, native_stderr_captured
from edgelite.core.version import __version__
from edgelite.runtime.model import Model


def created_utc() -> str:
    """Now in UTC, or SOURCE_DATE_EPOCH (the reproducible-builds convention) for byte-identical reruns."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and not epoch.isdigit():
        raise UserInputError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, got {epoch!r}; unset or fix it")
    when = dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc) if epoch else dt.datetime.now(dt.timezone.utc)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def provenance(cfg: ConvertConfig, src_hash: str, n_calib: int, created: str) -> dict[str, Any]:
    """What made the file: written into its edgelite metadata entry."""
    return {
        "edgelite_version": __version__,
        "source_file": cfg.model.name,
        "source_sha256": src_hash,
        "mode": cfg.mode.value,
        "io": cfg.io_type.value,
        "target": cfg.target.value,
        "calibration_samples": n_calib,
        "calibration_seed": cfg.seed if cfg.mode.needs_calibration else None,
        "created_utc": created,
    }


def verify(data: bytes, cfg: ConvertConfig) -> None:
    """Load the result in LiteRT before writing it, and check it has the I/O type that was asked for."""
    with native_stderr_captured():  # LiteRT's "Created XNNPACK delegate" line is noise here
        model = Model.from_bytes(data, cfg.output)
    want = np.dtype(cfg.io_type.value)
    if model.input.dtype != want:
        raise ConversionError(f"{cfg.model}: converter produced {model.input.dtype} input, "
                              f"expected {want} for --io {cfg.io_type.value}")


def finalize(model_bytes: bytes, cfg: ConvertConfig, *, spec: PreprocessSpec | None,
             labels: list[str] | tuple[str, ...] | None, provenance: dict[str, Any], description: str) -> bytes:
    """Embed spec, labels and provenance; verify; write ``cfg.output`` atomically. Returns the written bytes."""
    final = metadata_writer.embed(model_bytes, spec=spec, labels=tuple(labels) if labels else None,
                                  provenance=provenance, name=cfg.model.stem, description=description)
    verify(final, cfg)
    atomic_write_bytes(cfg.output, final)
    return final
