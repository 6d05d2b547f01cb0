"""The Open Inference Protocol (KServe v2 / Triton HTTP) in JSON: tensor metadata, request parsing, responses.

A quantized input is advertised with its real datatype (``INT8``/``UINT8``) and its scale and zero point in
``parameters``; ``FP32`` data sent to it is quantized for the caller exactly as ``Model.run`` does (the same
code path, so a served result equals ``Model.run``/``predict`` on the same array). Outputs come back as
``Model.run`` returns them: dequantized to ``FP32`` for quantized outputs, with the raw datatype named in
``parameters``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgelite.runtime.tensors import TensorInfo

# OIP datatype ↔ numpy (BYTES is not a tensor type of any TFLite model edgelite serves)
DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32, "UINT64": np.uint64,
    "INT8": np.int8, "INT16": np.int16, "INT32": np.int32, "INT64": np.int64, "FP16": np.float16,
    "FP32": np.float32, "FP64": np.float64,
}
MAX_ELEMENTS = 64 * 1024 * 1024   # per input tensor, on top of the body cap: shape products are checked first
# Lists and objects in one JSON body. An empty list costs ~64 bytes of Python objects for 3 bytes of text
# ("[],"): a 16 MiB body of them would be 350 MB once parsed; 2 Mi of them are 128 MiB, under the 12× of a body
# of numbers (serve/limits.py). An RGB image as nested lists ("[0,0,0],": 8 bytes a pixel) stays under it up
# to the 16 MiB body cap. Counted on the raw bytes, before parsing; deep nesting stops json at the recursion
# limit.
MAX_JSON_CONTAINERS = 2 * 1024 * 1024


class ProtocolError(ValueError):
    """A request the protocol cannot accept: the app answers 400 with ``{"error": message}``."""


_NAMES = {np.dtype(np_type): name for name, np_type in DATATYPES.items()}
_WIRE = {name: np.dtype(np_type).newbyteorder("<") for name, np_type in DATATYPES.items()}   # binary data


def datatype_of(dtype: np.dtype) -> str:
    name = _NAMES.get(np.dtype(dtype))
    if name is None:
        raise ProtocolError(f"tensor type {np.dtype(dtype)} has no Open Inference Protocol datatype")
    return name


def tensor_metadata(t: TensorInfo, *, output: bool) -> dict[str, Any]:
    """``{"name", "datatype", "shape"}`` of one tensor as OIP's model metadata lists it."""
    meta: dict[str, Any] = {"name": t.name, "shape": [int(d) for d in t.shape_signature or t.shape]}
    if t.quantized:
        q = {"scale": t.scale, "zero_point": t.zero_point}
        if output:   # Model.run dequantizes outputs: the wire carries floats
            meta["datatype"] = "FP32"
            meta["parameters"] = {"dequantized_from": datatype_of(t.dtype), **q}
        else:
            meta["datatype"] = datatype_of(t.dtype)
            meta["parameters"] = {**q, "accepts_fp32": True}   # FP32 data is quantized for the caller
    else:
        meta["datatype"] = datatype_of(t.dtype)
    return meta


def parse_json(raw: bytes, where: str = "request body") -> Any:
    """A JSON request body, refused (``ProtocolError``) when it is not JSON, nests past the interpreter's
    recursion limit or holds more than ``MAX_JSON_CONTAINERS`` lists and objects — counted on the bytes first, so
    a hostile body costs a scan, not a parse. NaN/Infinity literals parse (refused later, per input)."""
    containers = raw.count(b"[") + raw.count(b"{")
    if containers > MAX_JSON_CONTAINERS:
        raise ProtocolError(f"{where}: {containers} JSON lists/objects, over the cap of {MAX_JSON_CONTAINERS}; "
                            "send large tensors as flat \"data\" lists or as binary data")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:   # ValueError: bad JSON, bad UTF-8, a >4300-digit integer
        raise ProtocolError(f"{where} is not valid JSON ({first_line(exc)})") from None


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's text, cut to ``limit`` characters (its type when it has no text)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


def _shape(raw: Any, where: str) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in raw):
        raise ProtocolError(f"{where}: shape must be a list of non-negative integers, got {_short(raw)}")
    if len(raw) > 16:
        raise ProtocolError(f"{where}: shape has {len(raw)} dimensions; TFLite tensors have at most 16")
    if 0 in raw:
        raise ProtocolError(f"{where}: shape {raw} holds no values; send at least one sample")
    size = math.prod(raw)
    if size > MAX_ELEMENTS:
        raise ProtocolError(f"{where}: shape {_short(raw)} has more than the {MAX_ELEMENTS} elements allowed")
    return tuple(raw)


def _short(value: Any, limit: int = 120) -> str:
    """``repr`` cut to ``limit`` characters (a client's 5000-digit number is not echoed back whole)."""
    try:
        text = repr(value)
    except ValueError:   # an int past Python's digit limit cannot even be printed
        return "<a number too long to print>"
    except RecursionError:
        return "<nested too deep to print>"
    return text if len(text) <= limit else text[:limit] + "…"


def check_batch(shape: tuple[int, ...], t: TensorInfo, max_batch: int, where: str) -> None:
    """Refuse more than ``max_batch`` samples on a dynamic batch axis (the interpreter's memory grows with it)."""
    if t.shape_signature and t.shape_signature[0] == -1 and shape and shape[0] > max_batch:
        raise ProtocolError(f"{where}: batch of {shape[0]} samples is over the server's --max-batch {max_batch}; "
                            "split the request")


def check_finite(values: np.ndarray, t: TensorInfo, where: str) -> None:
    """Refuse NaN/Inf for a float input: a float model would turn them into outputs no JSON can carry (a
    quantized input refuses them when quantizing)."""
    if not t.quantized:
        refuse_non_finite(values, where)


def refuse_non_finite(values: np.ndarray, where: str) -> None:
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise ProtocolError(f"{where}: {bad} value(s) are NaN or infinite; send finite numbers")


def parse_inputs(body: Any, inputs: list[TensorInfo], binary: bytes = b"", *, max_batch: int | None = None
                 ) -> dict[str, np.ndarray]:
    """The request's ``inputs`` as arrays by tensor name, checked against the model's inputs. ``binary`` holds
    the tensors of the binary-data extension (Triton): an input with ``parameters.binary_data_size`` takes
    its bytes from there, in order, little-endian. ``max_batch``: the most samples on a dynamic batch axis."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise ProtocolError('request body must be a JSON object with a non-empty "inputs" list')
    by_name = {t.name: t for t in inputs}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for i, item in enumerate(body["inputs"]):
        where = f"inputs[{i}]"
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}: must be an object with name, shape, datatype and data")
        name = item.get("name")
        if not isinstance(name, str) or name not in by_name:
            raise ProtocolError(f"{where}: unknown input {_short(name)}; the model's inputs are {sorted(by_name)}")
        t = by_name[name]
        datatype = item.get("datatype")
        if not isinstance(datatype, str) or datatype not in DATATYPES:
            raise ProtocolError(f"{where}: datatype {_short(datatype)} is not one of {', '.join(DATATYPES)}")
        expected = datatype_of(t.dtype)
        if datatype != expected and not (t.quantized and datatype == "FP32"):
            accepted = expected + (" or FP32" if t.quantized else "")
            raise ProtocolError(f"{where}: input {name!r} takes {accepted}, got {datatype}")
        shape = _shape(item.get("shape"), where)
        if max_batch is not None:
            check_batch(shape, t, max_batch, where)
        params = item.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(binary):
                raise ProtocolError(f"{where}: binary_data_size {_short(size)} does not fit the {len(binary) - offset} "
                                    "binary bytes left in the request")
            wire = _WIRE[datatype]
            if size % wire.itemsize:
                raise ProtocolError(f"{where}: {size} bytes are not a whole number of {datatype} values")
            # read-only view of the body (the interpreter copies it in); a byte swap only on big-endian hosts
            flat = np.frombuffer(binary, dtype=wire, count=size // wire.itemsize, offset=offset)
            flat = flat.astype(DATATYPES[datatype], copy=False)
            offset += size
        elif "data" in item:
            try:
                flat = np.asarray(item["data"], dtype=DATATYPES[datatype]).reshape(-1)
            except (TypeError, ValueError, OverflowError, RecursionError) as exc:
                raise ProtocolError(f"{where}: data is not {datatype} values ({first_line(exc)})") from None
        else:
            raise ProtocolError(f"{where}: no \"data\" and no parameters.binary_data_size")
        if flat.size != math.prod(shape):
            raise ProtocolError(f"{where}: {flat.size} values do not fill shape {list(shape)}")
        if name in arrays:
            raise ProtocolError(f"{where}: input {name!r} given twice")
        check_finite(flat, t, where)
        arrays[name] = flat.reshape(shape)
    missing = sorted(set(by_name) - set(arrays))
    if missing:
        raise ProtocolError(f"missing input(s) {missing}")
    if offset != len(binary):
        raise ProtocolError(f"{len(binary) - offset} binary bytes after the last input that declares them")
    return arrays


def requested_outputs(body: dict[str, Any], outputs: list[TensorInfo]) -> list[tuple[str, bool]]:
    """(name, as binary) of each output the request asks for (all when it names none). Binary: the output's
    ``parameters.binary_data``, else the request's ``parameters.binary_data_output`` (Triton's extension)."""
    names = [t.name for t in outputs]
    params = body.get("parameters") or {}
    default_binary = bool(params.get("binary_data_output", False)) if isinstance(params, dict) else False
    wanted = body.get("outputs")
    if wanted is None:
        return [(n, default_binary) for n in names]
    if not isinstance(wanted, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in wanted):
        raise ProtocolError('"outputs" must be a list of {"name": …} objects')
    unknown = [o["name"] for o in wanted if o["name"] not in names]
    if unknown:
        raise ProtocolError(f"unknown output(s) {_short(unknown)}; the model's outputs are {names}")
    chosen = []
    for o in wanted:
        p = o.get("parameters") or {}
        binary = bool(p.get("binary_data", default_binary)) if isinstance(p, dict) else default_binary
        chosen.append((o["name"], binary))
    return chosen


def json_safe(value: np.ndarray) -> tuple[Any, int]:
    """``value`` as (nested) lists for JSON with NaN and ±Inf — which JSON cannot carry — as ``null``, and how
    many there were (one finiteness pass; none for integer tensors)."""
    if value.dtype.kind == "f":
        finite = np.isfinite(value)
        if not finite.all():
            held = value.astype(object)
            held[~finite] = None
            return held.tolist(), int(finite.size - np.count_nonzero(finite))
    return value.tolist(), 0


def output_tensor(name: str, value: np.ndarray, binary: bool) -> tuple[dict[str, Any], bytes]:
    """One output's JSON entry, and its little-endian bytes when it goes as binary data (else b""). Non-finite
    values in JSON are ``null``, counted in ``parameters.non_finite`` (binary data carries them exactly)."""
    entry: dict[str, Any] = {"name": name, "datatype": datatype_of(value.dtype), "shape": list(value.shape)}
    if binary:
        raw = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")).tobytes()
        entry["parameters"] = {"binary_data_size": len(raw)}
        return entry, raw
    entry["data"], bad = json_safe(value.reshape(-1))
    if bad:
        entry["parameters"] = {"non_finite": bad}
    return entry, b""


@dataclass(frozen=True)
class InferRequest:
    """An OIP inference request, parsed and checked against one model: arrays by input name, the outputs asked
    for (name, as binary), and the client's id."""

    arrays: dict[str, np.ndarray]
    wanted: list[tuple[str, bool]]
    id: str | None


def infer_request(head: bytes, binary: bytes, inputs: list[TensorInfo], outputs: list[TensorInfo], *,
                  max_batch: int | None = None) -> InferRequest:
    """Parse an OIP request (its JSON part and its binary tensors) for a model with these tensors."""
    body = parse_json(head)
    arrays = parse_inputs(body, inputs, binary, max_batch=max_batch)
    wanted = requested_outputs(body, outputs)
    request_id = body.get("id")
    return InferRequest(arrays, wanted, request_id if isinstance(request_id, str) else None)
