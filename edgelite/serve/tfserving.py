"""TensorFlow Serving's REST predict API (``POST /v1/models/<name>[/versions/<v>]:predict``), for clients that
speak it: the row format (``instances``) answers ``predictions``, the columnar one (``inputs``) ``outputs``.

Values are typed by the model: integers for an integer input pass as that type (range-checked), anything
else is float32, quantized for the caller as ``Model.run`` does; NaN/Infinity are refused for float inputs and
non-finite outputs are ``null`` (JSON has no NaN). A batch of several instances needs a model whose batch axis
is dynamic, and at most ``--max-batch`` of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgelite.runtime.tensors import TensorInfo
from edgelite.serve.protocol import ProtocolError, check_batch, first_line, json_safe, parse_json, refuse_non_finite
from edgelite.serve.repository import Served


def _array(values: Any, t: TensorInfo, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (ValueError, RecursionError) as exc:   # ragged nesting, or deeper than numpy's 64 dimensions
        raise ProtocolError(f"{where}: values do not form a rectangular array ({first_line(exc, 160)})") from None
    if arr.dtype.kind in "iu" and np.dtype(t.dtype).kind in "iu":
        info = np.iinfo(t.dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise ProtocolError(f"{where}: values outside {np.dtype(t.dtype)} range {info.min}..{info.max}")
        return arr.astype(t.dtype)
    if arr.dtype.kind not in "iufb":
        raise ProtocolError(f"{where}: values must be numbers")
    with np.errstate(over="ignore"):   # float64 past float32's range becomes inf: refused just below
        values32 = arr.astype(np.float32)
    refuse_non_finite(values32, where)
    return values32


def _inputs(body: Any, inputs: list[TensorInfo]) -> tuple[dict[str, np.ndarray], bool]:
    """(arrays by input name, row format?) of a predict request."""
    if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
        raise ProtocolError('request body must be a JSON object with exactly one of "instances" or "inputs"')
    by_name = {t.name: t for t in inputs}
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise ProtocolError('"instances" must be a non-empty list')
        if len(inputs) == 1:
            return {inputs[0].name: _array(rows, inputs[0], "instances")}, True
        if not all(isinstance(r, dict) for r in rows):
            raise ProtocolError(f'a model with inputs {sorted(by_name)} takes "instances" as objects by input name')
        return {n: _array([r.get(n) for r in rows], t, f"instances[].{n}") for n, t in by_name.items()}, True
    columns = body["inputs"]
    if len(inputs) == 1 and not isinstance(columns, dict):
        return {inputs[0].name: _array(columns, inputs[0], "inputs")}, False
    if not isinstance(columns, dict) or set(columns) != set(by_name):
        raise ProtocolError(f'"inputs" must be an object with the model inputs {sorted(by_name)}')
    return {n: _array(columns[n], t, f"inputs.{n}") for n, t in by_name.items()}, False


def parse_predict(head: bytes, inputs: list[TensorInfo], max_batch: int) -> tuple[dict[str, np.ndarray], bool]:
    """(arrays by input name, row format?) of a predict request body, checked against the model's inputs."""
    arrays, rows = _inputs(parse_json(head), inputs)
    by_name = {t.name: t for t in inputs}
    for name, arr in arrays.items():
        check_batch(arr.shape, by_name[name], max_batch, f"input {name!r}")
    return arrays, rows


def _json(value: np.ndarray) -> Any:
    return json_safe(value)[0]


def predict(served: Served, arrays: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """One parsed predict request (blocking: runs in the thread pool)."""
    m = served.model
    with served.instance() as model:
        outputs = model.run(next(iter(arrays.values())) if len(arrays) == 1 else arrays)
    names = [t.name for t in m.outputs]
    if rows:
        if len(names) == 1:
            return {"predictions": _json(outputs[names[0]])}
        n = len(outputs[names[0]])
        return {"predictions": [{k: _json(outputs[k][i]) for k in names} for i in range(n)]}
    if len(names) == 1:
        return {"outputs": _json(outputs[names[0]])}
    return {"outputs": {k: _json(outputs[k]) for k in names}}
