"""Our flatbuffers decoder and encoder of the standard TFLite metadata tables (``metadata_schema``).

``encode`` writes the tables in the order the flatbuffers object API packs them (children before parents, fields
in schema order, scalars equal to their default omitted), so a table decoded from a file written that way is
re-encoded byte for byte. Strings are decoded with ``surrogateescape`` so that even non-UTF-8 bytes round-trip.
Decoding is bounded: ``MAX_METADATA_BYTES`` per buffer and ``MAX_DEPTH`` nested tables.
"""

from __future__ import annotations

from typing import Any

from edgelite.runtime.flatbuf import CorruptFlatbuffer, View
from edgelite.runtime.metadata_schema import (
    _ALIGN,
    _LAYOUT,
    _SLOTS,
    F32S,
    IDENTIFIER,
    MAX_DEPTH,
    MAX_METADATA_BYTES,
    STR,
    STRS,
    TABLE,
    TABLES,
    U8S,
    U32S,
    UNION,
    ModelMetadata,
)


# ---- decoding -------------------------------------------------------------------------------------------------
def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "surrogateescape")


def _decode(cls: type, view: View, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise CorruptFlatbuffer("metadata tables nest too deep")
    values: dict[str, Any] = {}
    for slot, name, kind, arg in _SLOTS[cls]:
        if kind == STR:
            values[name] = _text(view.string(slot))
        elif kind == STRS:
            values[name] = tuple(_text(s) for s in view.strings(slot)) if view.has(slot) else None
        elif kind == TABLE:
            child = view.table(slot)
            values[name] = None if child is None else _decode(arg, child, depth + 1)
        elif kind == TABLES:
            values[name] = (tuple(_decode(arg, v, depth + 1) for v in view.iter_tables(slot))
                            if view.has(slot) else None)
        elif kind == UNION:
            type_id = values[name + "_type"]
            child = view.union(slot)
            # A member newer than this schema keeps its type id; its value cannot be read.
            known = 0 < type_id <= len(arg)
            values[name] = _decode(arg[type_id - 1], child, depth + 1) if known and child is not None else None
        elif kind in (F32S, U32S):
            arr = view.numbers(slot, "f4" if kind == F32S else "u4")
            values[name] = None if arr is None else tuple(arr.tolist())
        elif kind == U8S:
            span = view.vector(slot, 1)
            values[name] = None if span is None else bytes(view.buf[span[0] : span[0] + span[1]])
        else:
            values[name] = view.scalar(slot, kind)
    return cls(**values)


def decode(raw: bytes) -> ModelMetadata:
    """A ``TFLITE_METADATA`` buffer as a ``ModelMetadata`` (``CorruptFlatbuffer`` when it is not one)."""
    if len(raw) > MAX_METADATA_BYTES:
        raise CorruptFlatbuffer(f"metadata of {len(raw)} bytes is over the {MAX_METADATA_BYTES}-byte cap")
    decoded: ModelMetadata = _decode(ModelMetadata, View.root(raw, IDENTIFIER), 0)
    return decoded


# ---- encoding -------------------------------------------------------------------------------------------------
_PREPEND_SLOT = {"b": "PrependInt8Slot", "B": "PrependUint8Slot", "I": "PrependUint32Slot",
                 "i": "PrependInt32Slot", "f": "PrependFloat32Slot"}


def _string(builder: Any, s: str) -> int:
    return int(builder.CreateString(s.encode("utf-8", "surrogateescape")))


def _offsets_vector(builder: Any, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        builder.PrependUOffsetTRelative(off)
    return int(builder.EndVector())


def _encode(builder: Any, obj: Any) -> int:
    cls = type(obj)
    refs: dict[str, int] = {}
    # Children first, in field order (a flatbuffer is built back to front).
    for _, name, kind, _arg in _SLOTS[cls]:
        value = getattr(obj, name)
        if value is None or kind not in (STR, STRS, TABLE, TABLES, UNION, F32S, U32S, U8S):
            continue
        if kind == STR:
            refs[name] = _string(builder, value)
        elif kind == STRS:
            refs[name] = _offsets_vector(builder, [_string(builder, s) for s in value])
        elif kind in (TABLE, UNION):
            refs[name] = _encode(builder, value)
        elif kind == TABLES:
            refs[name] = _offsets_vector(builder, [_encode(builder, v) for v in value])
        elif kind in (F32S, U32S):
            builder.StartVector(4, len(value), 4)
            prepend = builder.PrependFloat32 if kind == F32S else builder.PrependUint32
            for v in reversed(value):
                prepend(v)
            refs[name] = builder.EndVector()
        else:  # U8S
            data = bytes(value)
            builder.StartVector(1, len(data), _ALIGN.get((cls, name), 1))
            builder.head -= len(data)
            builder.Bytes[builder.head : builder.head + len(data)] = data
            refs[name] = builder.EndVector()
    builder.StartObject(len(_LAYOUT[cls]))
    for slot, name, kind, _arg in _SLOTS[cls]:
        value = getattr(obj, name)
        if name in refs:
            builder.PrependUOffsetTRelativeSlot(slot, refs[name], 0)
        elif kind in _PREPEND_SLOT:
            getattr(builder, _PREPEND_SLOT[kind])(slot, value, 0)
    return int(builder.EndObject())


def encode(meta: ModelMetadata) -> bytes:
    """``meta`` as a ``TFLITE_METADATA`` buffer (root ``ModelMetadata``, identifier ``M001``)."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(_encode(builder, meta), file_identifier=IDENTIFIER)
    return bytes(builder.Output())
