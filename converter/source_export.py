"""PyTorch and ONNX sources → a float ``.tflite`` (route (a) of issue 28), run in a child process.

``python -m edgelite.converter.source_export REQUEST.json RESULT.json``: the parent (``pytorch_source``) writes
the request, this module loads the source, exports it with litert-torch and writes the float file and a result
record (or one error line). Why a child: torch, jax and TensorFlow then never share a process (each brings its
own protobuf/absl), the memory of the export is returned when it ends, and a crash in a native lowering is a
clean error instead of a dead conversion.

Loading, per source kind:
- ``package.module:factory``: imported from the current directory or ``sys.path``; the factory returns an
  ``nn.Module``; ``--input-shape`` gives the example input (the source's own layout, batch included).
- ``.pt2``: ``torch.export.load`` after ``pytorch_archive.vet`` has refused anything that would be unpickled.
- ``.onnx``: ``onnx_source.load_onnx`` → onnx2torch's ``GraphModule`` (every node checked for a converter first,
  so an unsupported one is named by node name and op type).

Layout: a 4-D input of 1, 3 or 4 channels in front of two spatial axes (NCHW) is wrapped with litert-torch's
``to_channel_last_io`` so the phone feeds NHWC (what MediaPipe and Android's image APIs produce); outputs keep
the source's layout, so they pair with the source's own outputs in ``compare``. ``keep_layout`` keeps NCHW.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Example inputs are random in [-1, 1] at the source's shape: the float check below compares the export with
# eager on these (the calibration data comes later, from the parent).
CHECK_SAMPLES = 4
# An ONNX file larger than this is refused before onnx.load (protobuf itself stops at 2 GiB).
MAX_ONNX_BYTES = 1 << 30


class SourceError(Exception):
    """A one-line, user-facing reason the source cannot be exported (``kind``: input | missing | convert)."""

    def __init__(self, line: str, kind: str = "input") -> None:
        super().__init__(line)
        self.kind = kind


@dataclass
class Request:
    source: str
    kind: str                                  # factory | pt2 | onnx
    input_shapes: list[list[int]] | None       # the source's layout, batch included; None: from the source
    keep_layout: bool
    out: str                                   # where the float .tflite goes


def _missing(module: str, extra: str) -> SourceError:
    return SourceError(f"{module} is not installed: {extra} sources need pip install 'edgelite[{extra}]'"
                       + (" and pip install --no-deps onnx2torch==1.5.15" if extra == "onnx" else "")
                       + " (README: PyTorch and ONNX sources)", kind="missing")


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name and exc.name.split(".")[0] == module.split(".")[0]:
            raise _missing(module, extra) from None
        raise


# ---- loading ----------------------------------------------------------------------------------------------
def load_factory(text: str) -> Any:
    import importlib

    torch = _import("torch", "torch")
    module_name, func = text.split(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())   # a factory in the user's project, as `python -m` would find it
    try:
        mod = importlib.import_module(module_name)
    except ImportError as exc:
        raise SourceError(f"{text}: cannot import {module_name} ({exc}); run from the folder that holds it or "
                          "put it on PYTHONPATH") from None
    except Exception as exc:   # noqa: BLE001 - the user's module failing to import: its error, one line
        raise SourceError(f"{text}: importing {module_name} raised {type(exc).__name__}: {_first_line(exc)}")\
            from None
    factory = getattr(mod, func, None)
    if not callable(factory):
        raise SourceError(f"{text}: {module_name} has no function {func!r}")
    try:
        model = factory()
    except Exception as exc:   # noqa: BLE001 - the user's factory failing (a missing weights file…): one line
        raise SourceError(f"{text}: the factory raised {type(exc).__name__}: {_first_line(exc)}") from None
    if not isinstance(model, torch.nn.Module):
        raise SourceError(f"{text}: returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def _pt2_shapes(ep: Any) -> list[list[int | None]]:
    """Each user input's shape in an ExportedProgram; None where the dimension is symbolic (dynamic)."""
    shapes: list[list[int | None]] = []
    user_inputs = set(ep.graph_signature.user_inputs)
    for node in ep.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            val = node.meta.get("val")
            dims = list(getattr(val, "shape", ()))
            shapes.append([int(d) if isinstance(d, int) or str(d).isdigit() else None for d in dims])
    return shapes


def load_pt2(path: str) -> tuple[Any, list[list[int | None]]]:
    _import("torch", "torch")
    from edgelite.converter.pytorch_archive import vet

    vet(Path(path))
    from torch.export.pt2_archive._package import load_pt2 as read_archive  # type: ignore[import-not-found]

    try:
        # the archive reader itself, not torch.export.load: on any error that one falls back to the legacy
        # format, whose payloads torch unpickles in full when the restricted loader fails
        contents = read_archive(path)
        ep = next(iter(contents.exported_programs.values()))
    except Exception as exc:   # noqa: BLE001 - any failure of a foreign archive is the file's, in one line
        raise SourceError(f"{path}: not a readable torch.export archive ({_first_line(exc)}); save it with "
                          "torch.export.save(torch.export.export(model, example), 'model.pt2')") from None
    return ep.module(), _pt2_shapes(ep)


# ---- shapes and layout --------------------------------------------------------------------------------------
def resolve_shapes(source: str, found: list[list[int | None]] | None, given: list[list[int]] | None) -> list[list[int]]:
    """The example input shapes: ``--input-shape`` where given (checked against what the source fixes), else the
    source's own, with a dynamic batch axis taken as 1. Any other dynamic axis needs ``--input-shape``."""
    if given is not None:
        if found is not None and len(found) != len(given):
            raise SourceError(f"{source}: has {len(found)} input(s) but --input-shape was given {len(given)} "
                              "time(s); give one per input, in the source's order")
        for k, shape in enumerate(given):
            fixed = found[k] if found is not None else None
            if fixed is not None and (len(fixed) != len(shape) or
                                      any(f is not None and f != g for f, g in zip(fixed, shape, strict=True))):
                raise SourceError(f"{source}: input {k} is {_shape_text(fixed)} but --input-shape gives "
                                  f"{_shape_text(shape)}; match the fixed axes")
        return [list(s) for s in given]
    if found is None:
        raise SourceError(f"{source}: a factory has no example input; give --input-shape N,C,H,W (the module's "
                          "own layout, e.g. --input-shape 1,3,224,224)")
    out = []
    for k, axes in enumerate(found):
        sizes = [1 if (i == 0 and d is None) else d for i, d in enumerate(axes)]
        if any(d is None for d in sizes):
            raise SourceError(f"{source}: input {k} has dynamic axes ({_shape_text(axes)}); give --input-shape "
                              "with every axis fixed, e.g. --input-shape "
                              + ",".join(str(d or 224) if i else "1" for i, d in enumerate(axes)))
        out.append([int(d) for d in sizes if d is not None])
    return out


def _shape_text(shape: list[int | None] | list[int]) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def is_nchw_image(shape: list[int]) -> bool:
    """A 4-D input with 1, 3 or 4 channels ahead of two spatial axes of ≥ 8 (NCHW image)."""
    return len(shape) == 4 and shape[1] in (1, 3, 4) and shape[2] >= 8 and shape[3] >= 8


# ---- export -------------------------------------------------------------------------------------------------
def export(req: Request) -> dict[str, Any]:
    """Load, wrap and export; returns the result record the parent reads (``pytorch_source.SourceExport``)."""
    t0 = time.perf_counter()
    torch = _import("torch", "torch" if req.kind != "onnx" else "onnx")
    litert_torch = _import("litert_torch", "torch")
    names: list[str] | None = None
    if req.kind == "factory":
        module, found = load_factory(req.source), None
    elif req.kind == "pt2":
        module, found = load_pt2(req.source)
    else:
        from edgelite.converter.onnx_source import load_onnx

        module, found, names = load_onnx(req.source, req.input_shapes)
    shapes = resolve_shapes(req.source, found, req.input_shapes)
    load_s = time.perf_counter() - t0
    nchw = [is_nchw_image(s) and not req.keep_layout for s in shapes]
    gen = torch.Generator().manual_seed(0)
    examples = [torch.rand(s, generator=gen) * 2 - 1 for s in shapes]
    with torch.no_grad():
        eager = flat_outputs(module(*examples))
    if req.kind == "onnx":
        from edgelite.converter.onnx_source import frozen

        exported = frozen(module, shapes)
    else:
        exported = module
    wrapped = exported
    if any(nchw):
        wrapped = litert_torch.to_channel_last_io(exported, args=[k for k, t in enumerate(nchw) if t])
        # not .eval(): it recurses into a .pt2's unlifted module, which refuses train()/eval() calls; the
        # source is in eval mode already and the wrapper has no mode of its own
        wrapped.training = False
    fed = [e.permute(0, 2, 3, 1).contiguous() if t else e for e, t in zip(examples, nchw, strict=True)]
    t1 = time.perf_counter()
    try:
        edge = litert_torch.convert(wrapped, tuple(fed))
    except Exception as exc:   # noqa: BLE001 - export/lowering failures become one line naming the op
        raise SourceError(_lowering_line(req.source, exc, wrapped, fed, torch), kind="convert") from None
    convert_s = time.perf_counter() - t1
    Path(req.out).parent.mkdir(parents=True, exist_ok=True)
    edge.export(req.out)
    float_diff, float_scale = _float_check(req.out, module, shapes, nchw, torch)
    return {
        "ok": True, "source_kind": req.kind, "input_shapes": shapes, "nchw_inputs": nchw,
        "onnx_input_names": names, "outputs": len(eager),
        "float_max_abs_diff": float_diff, "float_max_abs_output": float_scale,
        "load_s": round(load_s, 3), "export_s": round(convert_s, 3),
        "versions": _versions(),
    }


def flat_outputs(out: Any) -> list[Any]:
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in flat_outputs(o)]
    if isinstance(out, dict):
        return [t for k in out for t in flat_outputs(out[k])]
    return [out]


def _float_check(path: str, module: Any, shapes: list[list[int]], nchw: list[bool], torch: Any
                 ) -> tuple[float, float]:
    """(largest absolute difference, largest |output|) between the exported float file (LiteRT) and eager
    PyTorch on a few random inputs: the route's own fidelity before any quantization (measured 6e-7 on
    facenet's ONet)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=path)
    runner = it.get_signature_runner()
    # the signature lists names in text order (args_10 before args_2): order them by their index
    in_names = sorted(it.get_signature_list()["serving_default"]["inputs"], key=_index)
    out_names = sorted(it.get_signature_list()["serving_default"]["outputs"], key=_index)
    gen = torch.Generator().manual_seed(1)
    worst, scale = 0.0, 0.0
    for _ in range(CHECK_SAMPLES):
        xs = [torch.rand(s, generator=gen) * 2 - 1 for s in shapes]
        with torch.no_grad():
            ref = [t.numpy() for t in flat_outputs(module(*xs))]
        feed = {n: (x.permute(0, 2, 3, 1).contiguous() if t else x).numpy()
                for n, x, t in zip(in_names, xs, nchw, strict=True)}
        got = runner(**feed)
        outs = [got[n] for n in out_names]
        for r, g in zip(ref, outs, strict=False):
            if r.shape != g.shape:
                return float("inf"), 1.0   # the export's outputs are not the source's: reported as a warning
            gap = float(np.max(np.abs(r.astype(np.float64) - g)))
            worst = max(worst, gap if np.isfinite(gap) else float("inf"))   # NaN compares as no difference
            scale = max(scale, float(np.max(np.abs(r))))
    return worst, scale


def _index(name: str) -> tuple[int, str]:
    """``args_12`` / ``output_3`` → (12, name) / (3, name): litert-torch's signature names in source order."""
    found = re.findall(r"_(\d+)", name)
    return (int(found[-1]) if found else 0, name)


def _versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for dist in ("torch", "litert-torch", "onnx", "onnx2torch", "onnxruntime"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return found


OP_NAME = re.compile(r"(aten\.[\w.]+|torchvision\.[\w.]+|\b[a-z_]+::[\w.]+)")


def _lowering_line(source: str, exc: BaseException, module: Any, fed: list[Any], torch: Any) -> str:
    """One line: the op that cannot be exported or lowered, and where it is in the source (the frame of the
    user's code that torch.export recorded for the node)."""
    text = f"{type(exc).__name__}: {exc}"
    found = OP_NAME.search(text)
    op = found.group(1) if found else None
    where = None
    if op is not None:
        # litert-torch's "Lowering not found" message carries the node's recorded frame of the user's code
        frames = re.findall(r'File "([^"]+)", line (\d+)', text.split("Original traceback:", 1)[-1]) \
            if "Original traceback:" in text else []
        where = f"{frames[-1][0]}:{frames[-1][1]}" if frames else _node_location(module, fed, op, torch)
    if op is None:
        return f"{source}: litert-torch cannot export it: {_first_line(exc)}"
    return (f"{source}: op {op} cannot be lowered to TFLite by litert-torch"
            + (f" (at {where})" if where else "") + "; replace it in the model or keep that part out of the export")


def _node_location(module: Any, fed: list[Any], op: str, torch: Any) -> str | None:
    """``file:line`` of the first node calling ``op`` in the exported (decomposed) graph, from its stack trace."""
    try:
        ep = torch.export.export(module, tuple(fed)).run_decompositions()
    except Exception:   # noqa: BLE001 - the location is a courtesy; the op name is the message
        return None
    short = op.rsplit(".", 1)[0] if op.count(".") >= 2 else op
    for node in ep.graph.nodes:
        if node.op == "call_function" and (str(node.target) == op or str(node.target).startswith(short)):
            trace = node.meta.get("stack_trace") or ""
            frames = re.findall(r'File "([^"]+)", line (\d+)', trace)
            if frames:
                file, line = frames[-1]
                return f"{file}:{line}"
            return f"node {node.name}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def main(argv: list[str]) -> int:
    request_path, result_path = argv
    raw = json.loads(Path(request_path).read_text())
    req = Request(**raw)
    from edgelite.core.errors import UserInputError

    try:
        result = export(req)
    except SourceError as exc:
        result = {"ok": False, "error": str(exc), "error_kind": exc.kind}
    except UserInputError as exc:   # pytorch_archive's refusals
        result = {"ok": False, "error": str(exc), "error_kind": "input"}
    except Exception as exc:   # noqa: BLE001 - reported to the parent as a conversion failure with the trace
        result = {"ok": False, "error": f"{req.source}: export failed: {_first_line(exc)}", "error_kind": "convert",
                  "trace": traceback.format_exc()[-4000:]}
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
