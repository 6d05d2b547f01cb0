"""Keras 3 → tf_keras (Keras 2) for tfmot, which only instruments tf_keras models.

The Sequential/Functional config of built-in layers is nearly the same in both; this rewrites the Keras 3
differences (``batch_shape``, dtype-policy objects, serialized-object envelopes, node references), builds the
model in tf_keras, copies the weights layer by layer, and **accepts the result only if it computes the same
outputs** on real samples. Anything else (custom layers, subclassed models, a mismatch) is refused with the
reason and the way out, so a model is never silently changed.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgelite.core.errors import UserInputError

TOLERANCE = 1e-4  # max abs output difference accepted (float32 reorderings give ~1e-6)
_DROP_KEYS = ("module", "registered_name", "build_config", "compile_config", "optional")


def _clean(value: Any) -> Any:
    """Turn Keras 3 serialized objects into the Keras 2 forms."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" or value.get("class_name") == "FloatDTypePolicy":
            return value.get("config", {}).get("name", "float32")
        if value.get("class_name") == "__keras_tensor__":
            name, node, index = value["config"]["keras_history"]
            return [name, node, index]
        return {k: _clean(v) for k, v in value.items() if k not in _DROP_KEYS}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _inbound(nodes: list[Any]) -> list[Any]:
    """Keras 3 node ``{"args": [tensor(s)], "kwargs": {}}`` → Keras 2 ``[[name, node, index, kwargs], ...]``."""
    out = []
    for node in nodes:
        if isinstance(node, dict):
            args = node.get("args", [])
            first = args[0] if args else []
            tensors = first if first and isinstance(first[0], list) else [first]
            out.append([[t[0], t[1], t[2], node.get("kwargs", {})] for t in tensors])
        else:
            out.append(node)
    return out


_BASE_KWARGS = {"name", "trainable", "dtype", "batch_input_shape", "input_shape", "batch_size", "input_dim"}


def _keep_known_args(class_name: str, inner: dict[str, Any]) -> dict[str, Any]:
    """Drop Keras-3-only arguments (``lora_rank``, ``synchronized``, …) that tf_keras' layer does not take;
    the output check afterwards catches any that mattered. Initializers only seed fresh weights, which are
    overwritten, so they are reduced to their class."""
    import inspect

    import tf_keras

    cls = getattr(tf_keras.layers, class_name, None)
    if cls is None:
        return inner
    params = inspect.signature(cls.__init__).parameters
    allowed = set(params) | (_BASE_KWARGS if any(p.kind is p.VAR_KEYWORD for p in params.values()) else set())
    out = {}
    for key, value in inner.items():
        if key not in allowed:
            continue
        if key.endswith("_initializer") and isinstance(value, dict):
            value = {"class_name": value.get("class_name"), "config": {}}
        out[key] = value
    return out


def _convert_config(config: dict[str, Any]) -> dict[str, Any]:
    cfg = _clean(config)
    for layer in cfg["config"].get("layers", []):
        inner = layer.get("config", {})
        if layer.get("class_name") == "InputLayer" and "batch_shape" in inner:
            inner["batch_input_shape"] = inner.pop("batch_shape")
        layer["config"] = _keep_known_args(layer.get("class_name", ""), inner)
        if "inbound_nodes" in layer:
            layer["inbound_nodes"] = _inbound(layer["inbound_nodes"])
    for key in ("input_layers", "output_layers"):
        refs = cfg["config"].get(key)
        if refs and isinstance(refs[0], str):  # a single tensor [name, node, index]
            cfg["config"][key] = [refs]
    return cfg


def to_tf_keras(model: Any, samples: np.ndarray, where: str) -> Any:
    """A tf_keras copy of a Keras 3 Sequential/Functional ``model``, verified on ``samples``."""
    import tf_keras

    hint = ("tfmot (QAT, pruning) works only on tf_keras models: save the model with tf_keras (Keras 2) as .h5, "
            "or train it with tf_keras, then run edgelite qat on that file")
    if type(model).__name__ not in ("Sequential", "Functional"):
        raise UserInputError(f"{where}: a subclassed Keras 3 model ({type(model).__name__}) cannot be rebuilt in "
                             f"tf_keras; {hint}")
    try:
        config = _convert_config(json.loads(model.to_json()))
        clone = tf_keras.models.model_from_json(json.dumps(config))
        by_name = {layer.name: layer for layer in clone.layers}
        for layer in model.layers:
            weights = layer.get_weights()
            if weights:
                by_name[layer.name].set_weights(weights)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise UserInputError(f"{where}: this Keras 3 model could not be rebuilt in tf_keras "
                             f"({str(exc).splitlines()[0][:200]}); {hint}") from None
    batch = samples[: min(len(samples), 16)]
    diff = float(np.max(np.abs(np.asarray(model(batch, training=False)) - clone(batch, training=False).numpy())))
    if not diff <= TOLERANCE:
        raise UserInputError(f"{where}: the tf_keras rebuild of this Keras 3 model differs by {diff:.3g} on real "
                             f"samples (allowed {TOLERANCE}); {hint}")
    return clone
