"""Converted files keep the source's input/output names and order.

TF's converter names a SavedModel's inputs ``serving_default_<key>:0`` and its outputs
``StatefulPartitionedCall_1:<k>``, and orders both by its own rules (measured: inputs ``meta`` before ``img``,
outputs reversed), so a file's first output need not be the Keras model's first one. Only the file's signature def
still says which tensor is which: its input keys are the SavedModel's input names, its output keys either the
SavedModel's output keys or ``output_0``, ``output_1``, … in ``model.outputs`` order (Keras' export of a list of
outputs; measured on Keras 3.15 and tf_keras 2.21). This module reads that mapping and rewrites the file: the
subgraph's inputs and outputs in the source's order, those tensors named as the source names them, and the
signature's ``output_k`` keys renamed to the source's output names, so the signature runner keeps working.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from edgelite.converter.loading import SourceModel, import_tf_quantizer


def from_source(model_bytes: bytes, src: SourceModel) -> bytes:
    """``model_bytes`` (converted from ``src``) with ``src``'s input and output names and order. A float
    .tflite source keeps the file's own names: they are already the source's."""
    if src.tflite_bytes is not None or not src.input_names or not src.output_names:
        return model_bytes
    return apply(model_bytes, src.input_names, src.output_names)


def apply(model_bytes: bytes, inputs: Sequence[str], outputs: Sequence[str]) -> bytes:
    """Reorder and rename the first subgraph's inputs/outputs to ``inputs``/``outputs`` (source order) through
    the file's signature def. A file whose signature does not name them all (no signature, other keys) is
    returned unchanged: there is nothing to map by, and guessing by position is the bug this fixes."""
    import_tf_quantizer()
    from tensorflow.lite.tools import flatbuffer_utils

    model: Any = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    sigs = [s for s in (model.signatureDefs or []) if s.subgraphIndex == 0]
    if len(sigs) != 1 or not model.subgraphs:
        return model_bytes
    sig, graph = sigs[0], model.subgraphs[0]
    in_by_key = {_text(m.name): m for m in sig.inputs or []}
    out_by_name = _outputs_by_source_name(sig.outputs or [], outputs)
    if out_by_name is None or set(in_by_key) != set(inputs) or len(in_by_key) != len(inputs):
        return model_bytes
    new_inputs = [in_by_key[n].tensorIndex for n in inputs]
    new_outputs = [out_by_name[n].tensorIndex for n in outputs]
    # the signature must describe exactly the subgraph's I/O tensors; a permutation of them, nothing else
    if Counter(new_inputs) != Counter(_ints(graph.inputs)) or Counter(new_outputs) != Counter(_ints(graph.outputs)):
        return model_bytes
    # a source name that already names another tensor would make name lookups (taps, ranges) ambiguous
    io = set(new_inputs) | set(new_outputs)
    if {*inputs, *outputs} & {_text(t.name) for i, t in enumerate(graph.tensors) if i not in io}:
        return model_bytes
    renamed: set[int] = set()
    for index, name in [*zip(new_inputs, inputs, strict=True), *zip(new_outputs, outputs, strict=True)]:
        if index not in renamed:   # one tensor that is two outputs (or an input passed through) keeps its first name
            graph.tensors[index].name = name.encode()
            renamed.add(index)
    graph.inputs, graph.outputs = new_inputs, new_outputs
    sig.inputs = [in_by_key[n] for n in inputs]
    sig.outputs = [out_by_name[n] for n in outputs]
    for name, entry in zip(outputs, sig.outputs, strict=True):
        entry.name = name.encode()
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _outputs_by_source_name(entries: Sequence[Any], outputs: Sequence[str]) -> dict[str, Any] | None:
    """The signature's output entries by source output name: by key when the keys are the source's names
    (a SavedModel, a Keras model with dict outputs, a file rewritten before), by k for Keras' ``output_k``."""
    by_key = {_text(m.name): m for m in entries}
    if len(by_key) != len(entries) or len(entries) != len(outputs) or len(set(outputs)) != len(outputs):
        return None
    if set(by_key) == set(outputs):
        return {n: by_key[n] for n in outputs}
    if set(by_key) == {f"output_{k}" for k in range(len(outputs))}:
        return {n: by_key[f"output_{k}"] for k, n in enumerate(outputs)}
    return None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ints(values: Any) -> list[int]:
    return [int(v) for v in (values if values is not None else [])]
