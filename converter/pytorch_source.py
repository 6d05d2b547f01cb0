"""PyTorch (``.pt2``, ``package.module:factory``) and ONNX (``.onnx``) sources: the float ``.tflite`` export.

The route (a of issue 28, chosen by measurement in ``benchmarks/sources_vs_anchors.py``): litert-torch exports the
source to a float ``.tflite`` (ONNX first becomes a PyTorch ``GraphModule`` through onnx2torch), and from there the
file is a float ``.tflite`` source like a publisher's: LiteRT records the ranges, TF's MLIR quantizer writes full
int8 with int8 I/O, and every range, bias-correction, equalization and float-fallback method applies. The export
runs in a child process (``source_export``); this module prepares its request and reads its record.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgelite.core.errors import ConversionError, MissingDependencyError, UserInputError

# Wall-clock limit of one export (a large model lowers in minutes; a hung lowering must not hang CI).
EXPORT_TIMEOUT_S = 1800

# The float export is expected to equal the source to float32 rounding (measured ≤ 2e-6 of the output on the
# MTCNN nets and PP-OCR's classifier); 0.1 % of the outputs' magnitude is far above rounding, far below a bug.
FLOAT_EXPORT_TOLERANCE = 1e-3

ROUTE = "litert-torch float export → edgelite float-.tflite int8 path"
ROUTE_WHY = ("full int8 with int8 I/O and the file's metadata, and every --calibration/--bias-correction/--equalize/"
             "--max-drop method applies; litert-torch's PT2E int8 (route b) keeps float I/O and leaves PReLU and "
             "SOFTMAX float on facenet's MTCNN, so its file is not full int8 "
             "(benchmarks/sources_vs_anchors.py)")
ONNX_ROUTE = "onnx2torch → " + ROUTE
ONNX_WHY = ("onnx2tf's own int8 (-oiqt; 1.29 on Python 3.11, 2.x needs 3.12) failed on PP-OCR models that this route "
            "converts, and the onnx2torch graph takes every method of the PyTorch route "
            "(benchmarks/sources_vs_anchors.py)")


@dataclass(frozen=True)
class SourceExport:
    """How a PyTorch/ONNX source became the float file that is quantized: recorded in the convert report and
    the file's provenance (``source_export``)."""

    kind: str                                   # pytorch | onnx
    route: str
    why: str
    input_shapes: tuple[tuple[int, ...], ...]   # the source's own layout, batch included
    nchw_inputs: tuple[bool, ...]               # which inputs were NCHW images and now take NHWC
    float_max_abs_diff: float                   # exported float file vs the eager source, random inputs
    float_max_abs_output: float                 # the largest |output| of the source on those inputs
    export_s: float
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def layout(self) -> str:
        """``NHWC (source NCHW)`` when an input was turned, ``as source`` otherwise."""
        return "NHWC (source NCHW)" if any(self.nchw_inputs) else "as source"

    def float_warning(self) -> str | None:
        """One line when the float export itself is off the source by more than ``FLOAT_EXPORT_TOLERANCE`` of
        the outputs' magnitude: int8 cannot be closer to the source than its float starting point."""
        rel = self.float_max_abs_diff / max(self.float_max_abs_output, 1e-12)
        if rel <= FLOAT_EXPORT_TOLERANCE:
            return None
        return (f"the float export differs from the source by up to {self.float_max_abs_diff:.3g} ({100 * rel:.1f} "
                f"% of the largest output, random inputs) before any quantization: a litert-torch lowering "
                "computes something else; int8 inherits it — judge with `edgelite compare SOURCE OUT.tflite`")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["layout"] = self.layout
        return out


def kind_of(source: str | os.PathLike[str]) -> str | None:
    """``factory`` | ``pt2`` | ``onnx`` for the sources this module exports, else None."""
    from edgelite.converter.source_kinds import FACTORY

    text = os.fspath(source)
    if FACTORY.match(text) and not Path(text).exists():
        return "factory"
    suffix = Path(text).suffix.lower()
    return {".pt2": "pt2", ".onnx": "onnx"}.get(suffix)


def require(kind: str) -> None:
    """A missing extra is one line naming the install (checked without importing anything)."""
    needed = ["torch", "litert_torch"] + (["onnx", "onnx2torch", "onnxruntime"] if kind == "onnx" else [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        more = " && pip install --no-deps onnx2torch==1.5.15" if "onnx2torch" in missing else ""
        raise MissingDependencyError(
            f"{', '.join(missing)} not installed: {'ONNX' if kind == 'onnx' else 'PyTorch'} sources need "
            f"pip install torch==2.13.0 'edgelite[torch{',onnx' if kind == 'onnx' else ''}]'{more} "
            "(README: PyTorch and ONNX sources)")


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``1,3,224,224`` (or ``1x3x224x224``) → a shape; one line for anything else."""
    parts = text.replace("x", ",").split(",")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise UserInputError(f"--input-shape {text!r}: give the axes as integers, e.g. 1,3,224,224") from None
    if not shape or any(d < 1 or d > 65536 for d in shape) or len(shape) > 8:
        raise UserInputError(f"--input-shape {text!r}: every axis must be 1–65536, at most 8 axes")
    elements = 1
    for d in shape:
        elements *= d
    if elements > 64 << 20:
        raise UserInputError(f"--input-shape {text!r}: {elements} elements per sample, over the 64 Mi cap")
    return shape


def export_float(source: str, kind: str, folder: Path, *, input_shapes: tuple[tuple[int, ...], ...] = (),
                 keep_layout: bool = False) -> tuple[Path, SourceExport]:
    """Export ``source`` to ``folder``/float.tflite in a child process; the path and how it was made."""
    require(kind)
    out = folder / "float.tflite"
    request = {"source": source if kind == "factory" else str(Path(source).resolve()), "kind": kind,
               "input_shapes": [list(s) for s in input_shapes] or None, "keep_layout": keep_layout,
               "out": str(out)}
    req_path, res_path = folder / "request.json", folder / "result.json"
    req_path.write_text(json.dumps(request))
    env = dict(os.environ)
    # the child imports the user's factory from where the command runs; its own chatter stays in the log
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile("w+") as log:
        try:
            # a .pt2/.onnx is data: isolated mode keeps the working folder's modules (a numpy.py …) off the path;
            # a factory is the user's code, imported from the working folder on purpose
            isolate = [] if kind == "factory" else ["-I"]
            proc = subprocess.run([sys.executable, *isolate, "-m", "edgelite.converter.source_export", str(req_path),
                                   str(res_path)], stdout=log, stderr=log, env=env, timeout=EXPORT_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ConversionError(f"{source}: the litert-torch export ran over {EXPORT_TIMEOUT_S} s") from None
        log.seek(0)
        tail = log.read()[-4000:]
    if not res_path.is_file():
        raise ConversionError(f"{source}: the export process ended with code {proc.returncode} and no result "
                              "(a crash in a native lowering); rerun with the details below", details=tail)
    result = json.loads(res_path.read_text())
    if not result.get("ok"):
        line = str(result.get("error", "export failed"))
        if result.get("error_kind") == "missing":
            raise MissingDependencyError(line)
        if result.get("error_kind") == "input":
            raise UserInputError(line)
        raise ConversionError(line, details=str(result.get("trace", "")) or tail)
    onnx = kind == "onnx"
    return out, SourceExport(
        kind="onnx" if onnx else "pytorch", route=ONNX_ROUTE if onnx else ROUTE, why=ONNX_WHY if onnx else ROUTE_WHY,
        input_shapes=tuple(tuple(int(d) for d in s) for s in result["input_shapes"]),
        nchw_inputs=tuple(bool(b) for b in result["nchw_inputs"]),
        float_max_abs_diff=float(result["float_max_abs_diff"]),
        float_max_abs_output=float(result["float_max_abs_output"]), export_s=float(result["export_s"]),
        versions=dict(result.get("versions", {})))


def source_digest(source: str | os.PathLike[str]) -> tuple[str, int]:
    """(sha256, bytes) of a source for the provenance: the file, or for a factory the module file that defines it
    (found without importing the module itself)."""
    from edgelite.core.files import path_size, sha256_path

    if kind_of(source) != "factory":
        return sha256_path(source), path_size(source)
    module = os.fspath(source).split(":")[0]
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        raise UserInputError(f"{source}: no module {module!r} on the path; run from the folder that holds it or put "
                             "it on PYTHONPATH")
    return sha256_path(spec.origin), path_size(spec.origin)
