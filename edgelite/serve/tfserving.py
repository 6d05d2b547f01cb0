"""TensorFlow Serving's REST predict API (``POST /v1/models/<name>[/versions/<v>]:predict``), for clients that
speak it: the row format (``instances``) answers ``predictions``, the columnar one (``inputs``) ``outputs``.

Values are typed by the model: integers for an integer input pass as that type (range-checked), anything
else is float32, quantized for the caller as ``Model.run`` does. A batch of several instances needs a model
whose batch axis is dynamic.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgelite.runtime.tensors import TensorInfo
from edgelite.serve.protocol import ProtocolError
from edgelite.serve.repository import Served


def _array(values: Any, t: TensorInfo, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except ValueError as exc:   # ragged nesting
        raise ProtocolError(f"{where}: values do not form a rectangular array ({exc})") from None
    if arr.dtype.kind in "iu" and np.dtype(t.dtype).kind in "iu":
        info = np.iinfo(t.dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise ProtocolError(f"{where}: values outside {np.dtype(t.dtype)} range {info.min}..{info.max}")
        return arr.astype(t.dtype)
    if arr.dtype.kind not in "iufb":
        raise ProtocolError(f"{where}: values must be numbers")
    return arr.astype(np.float32)


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


def predict(served: Served, body: Any) -> dict[str, Any]:
    """One predict request (blocking: runs in the thread pool)."""
    m = served.model
    arrays, rows = _inputs(body, m.inputs)
    with served.instance() as model:
        outputs = model.run(next(iter(arrays.values())) if len(arrays) == 1 else arrays)
    names = [t.name for t in m.outputs]
    if rows:
        if len(names) == 1:
            return {"predictions": outputs[names[0]].tolist()}
        n = len(outputs[names[0]])
        return {"predictions": [{k: outputs[k][i].tolist() for k in names} for i in range(n)]}
    if len(names) == 1:
        return {"outputs": outputs[names[0]].tolist()}
    return {"outputs": {k: outputs[k].tolist() for k in names}}
