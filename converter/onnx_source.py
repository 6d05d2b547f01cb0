"""ONNX sources → a PyTorch graph litert-torch can export (run inside ``source_export``'s child process).

onnx2torch builds the ``GraphModule``; around it, the fixes real exports need (measured on PP-OCR, which Paddle
exports): ``Constant``-node weights moved to initializers, shape subgraphs folded by onnxruntime at the fixed
input shape, onnx2torch's Reshape/Slice with constant arguments made static, and one trace on real tensors
(``frozen``) so the Python-side logic of its other modules is evaluated before torch.export.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from edgelite.converter.source_export import MAX_ONNX_BYTES, SourceError, _first_line, _import, resolve_shapes


def load_onnx(path: str, given: list[list[int]] | None) -> tuple[Any, list[list[int | None]], list[str]]:
    onnx = _import("onnx", "onnx")
    if Path(path).stat().st_size > MAX_ONNX_BYTES:
        raise SourceError(f"{path}: {Path(path).stat().st_size} bytes, over edgelite's {MAX_ONNX_BYTES} byte cap "
                          "for ONNX files")
    try:
        model = onnx.load(path)
    except Exception as exc:   # noqa: BLE001 - protobuf's DecodeError and friends: the file's fault
        raise SourceError(f"{path}: not a readable ONNX model ({_first_line(exc)})") from None
    _torchvision_or_stand_in()
    o2t = _import("onnx2torch", "onnx")
    from onnx import defs
    from onnx2torch.node_converters.registry import get_converter

    opsets = {(o.domain or ""): int(o.version) for o in model.opset_import}
    for node in model.graph.node:
        domain = node.domain or ""
        try:
            get_converter(operation_type=node.op_type, version=opsets.get(domain, opsets.get("", 1)),
                          domain=defs.ONNX_DOMAIN if domain in ("", "ai.onnx") else domain)
        except NotImplementedError:
            raise SourceError(f"{path}: ONNX node {node.name or '(unnamed)'!r} ({node.op_type}, opset "
                              f"{opsets.get(domain, '?')}) has no PyTorch conversion in onnx2torch; replace the op "
                              "or export the model without it", kind="convert") from None
    _constants_as_initializers(model)
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    shapes = [[int(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else None
               for d in i.type.tensor_type.shape.dim] for i in inputs]
    fixed = resolve_shapes(path, shapes, given)
    model = _folded_at(model, inputs, fixed)
    try:
        module = o2t.convert(model)
    except NotImplementedError as exc:
        raise SourceError(f"{path}: onnx2torch cannot convert it: {_first_line(exc)}", kind="convert") from None
    _static_shape_ops(module)
    return module.eval(), shapes, [i.name for i in inputs]


def _constants_as_initializers(model: Any) -> int:
    """Move tensor-valued ``Constant`` nodes into the graph's initializers (same name, same value). Paddle's
    exporter (PP-OCR) stores every weight that way and onnx2torch reads a Conv's weights from initializers only.
    Returns how many moved; the graph computes exactly what it did."""
    moved = []
    for node in model.graph.node:
        if node.op_type == "Constant" and not node.domain and len(node.output) == 1 and len(node.attribute) == 1 \
                and node.attribute[0].name == "value":
            tensor = node.attribute[0].t
            tensor.name = node.output[0]
            model.graph.initializer.append(tensor)
            moved.append(node)
    for node in moved:
        model.graph.node.remove(node)
    return len(moved)


def reshape_to(x: Any, dims: tuple[int, ...]) -> Any:
    """ONNX Reshape with a constant target: 0 copies the input's axis (ONNX's rule), -1 is inferred."""
    return x.reshape([x.shape[i] if d == 0 else d for i, d in enumerate(dims)])


def slice_to(x: Any, starts: tuple[int, ...], ends: tuple[int, ...], axes: tuple[int, ...],
             steps: tuple[int, ...]) -> Any:
    """ONNX Slice with constant starts/ends/axes/steps, index for index as ONNX's reference implementation
    (numpy slicing: ``slice.indices`` clamps); a negative step reads the flipped axis, which torch slicing needs."""
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis %= x.dim()
        n = int(x.shape[axis])
        first, stop, stride = slice(start, end, step).indices(n)
        count = len(range(first, stop, stride))
        lead = (slice(None),) * axis
        if count == 0:
            x = x.narrow(axis, 0, 0)
        elif stride > 0:
            x = x[lead + (slice(first, first + stride * (count - 1) + 1, stride),)]
        else:
            # element i of the axis is element n-1-i of the flipped axis
            begin = n - 1 - first
            x = x.flip(axis)[lead + (slice(begin, begin - stride * (count - 1) + 1, -stride),)]
    return x


def _constant(module: Any, arg: Any) -> tuple[int, ...] | None:
    """The integer values of a ``get_attr`` argument of an onnx2torch graph, else None."""
    if getattr(arg, "op", None) != "get_attr":
        return None
    value = module
    for part in str(arg.target).split("."):
        value = getattr(value, part)
    return tuple(int(d) for d in value.reshape(-1).tolist())


def _static_shape_ops(module: Any) -> int:
    """Turn onnx2torch's Reshape and Slice modules whose shape arguments are constants into ``reshape_to`` /
    ``slice_to`` calls with Python ints. Its modules read those tensors' values in Python (``torch.any(shape ==
    0)``, ``.numpy()``), which tracing cannot do although the values are constants of the graph. Returns how many
    were turned."""
    turned = 0
    graph = module.graph
    for node in list(graph.nodes):
        if node.op != "call_module":
            continue
        kind = type(module.get_submodule(node.target)).__name__
        consts = [_constant(module, a) for a in node.args[1:]]
        if kind == "OnnxReshape" and len(consts) == 1 and consts[0] is not None:
            call: tuple[Any, tuple[Any, ...]] = (reshape_to, (node.args[0], consts[0]))
        elif kind == "OnnxSlice" and consts and all(c is not None for c in consts):
            starts, ends = consts[0], consts[1]
            assert starts is not None and ends is not None
            axes = consts[2] if len(consts) > 2 and consts[2] is not None else tuple(range(len(starts)))
            steps = consts[3] if len(consts) > 3 and consts[3] is not None else (1,) * len(starts)
            call = (slice_to, (node.args[0], starts, ends, axes, steps))
        else:
            continue
        with graph.inserting_before(node):
            new = graph.call_function(*call)
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        turned += 1
    if turned:
        graph.eliminate_dead_code()
        module.recompile()
    return turned


def frozen(module: Any, shapes: list[list[int]]) -> Any:
    """The module traced once on real tensors of the fixed input shapes (``make_fx``, real mode): the Python
    logic onnx2torch's modules run on constant tensors (Resize's scales ``.tolist()``) is evaluated and the
    graph keeps only the tensor ops, which torch.export then takes. The float check after the export compares
    the result with the untraced module."""
    import torch
    from torch.fx.experimental.proxy_tensor import make_fx  # type: ignore[import-not-found]

    gen = torch.Generator().manual_seed(2)
    examples = [torch.rand(s, generator=gen) for s in shapes]
    try:
        with torch.no_grad():
            return make_fx(module, tracing_mode="real")(*examples)
    except Exception as exc:   # noqa: BLE001 - a converter module that needs input values: one line, op named
        raise SourceError(f"the onnx2torch graph depends on input values at trace time ({_first_line(exc)})",
                          kind="convert") from None


def _folded_at(model: Any, inputs: list[Any], shapes: list[list[int]]) -> Any:
    """The model with its inputs fixed to ``shapes`` and its constant subgraphs folded by onnxruntime's basic
    graph optimizations (constant folding, redundant nodes; standard ONNX ops only). Exporters compute Reshape
    targets from ``Shape`` at run time (Paddle's do); once the input shape is fixed they are constants, and
    torch.export no longer meets a data-dependent reshape."""
    import tempfile

    import onnx
    import onnxruntime as ort

    for value, shape in zip(inputs, shapes, strict=True):
        dims = value.type.tensor_type.shape.dim
        for d, size in zip(dims, shape, strict=True):
            d.ClearField("dim_param")
            d.dim_value = int(size)
    with tempfile.TemporaryDirectory(prefix="edgelite-onnx-") as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(tmp, "folded.onnx")
        try:
            ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        except Exception as exc:   # noqa: BLE001 - onnxruntime refusing the graph: the file's, in one line
            raise SourceError(f"onnxruntime cannot load the model at the input shape {shapes}: "
                              f"{_first_line(exc)}") from None
        return onnx.load(options.optimized_model_filepath)


def _torchvision_or_stand_in() -> None:
    """onnx2torch imports torchvision at the top for two node converters only (NonMaxSuppression, RoiAlign).
    PyPI's torchvision does not load beside a CPU torch build (and pip would replace that torch with a CUDA one
    to install it), so where it is missing a stand-in module is registered: onnx2torch imports, and a model that
    reaches either converter gets a one-line error naming the op instead of a failed import for every model."""
    import types

    try:
        from torchvision.ops import nms, roi_align  # noqa: F401 - the two onnx2torch imports
        return
    except Exception:   # noqa: BLE001 - absent, broken ("operator torchvision::nms does not exist") or a stub
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]

    class _Missing(types.ModuleType):
        def __getattr__(self, attr: str) -> Any:
            if attr.startswith("__"):
                raise AttributeError(attr)

            def unavailable(*args: Any, **kwargs: Any) -> Any:
                raise SourceError(f"the model uses torchvision.{attr} (ONNX NonMaxSuppression or RoiAlign), and "
                                  "torchvision is not installed beside this torch; export the model without that "
                                  "op (post-processing outside the graph)", kind="convert")
            return unavailable

    root, ops = _Missing("torchvision"), _Missing("torchvision.ops")
    root.ops = ops  # type: ignore[attr-defined]
    sys.modules["torchvision"], sys.modules["torchvision.ops"] = root, ops
