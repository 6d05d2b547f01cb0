"""A bounds-checked view of one flatbuffer table, addressed by field slot (the field's position in its schema).

edgelite reads only a few tables of the TFLite model schema and the metadata schema, so it reads them through
this view instead of a generated module (the generated TFLite module is 20k lines and costs ~0.36 s to import,
which a board pays on every command). The slot numbers live next to their readers (``tflite_file``,
``metadata_schema``); here is only the wire format: a table starts with a signed offset back to its vtable, the
vtable lists one 16-bit field offset per slot (0 = absent), references are unsigned 32-bit offsets forward from
where they are stored, vectors and strings are a 32-bit length followed by the elements.

Every offset and length is checked against the buffer before it is followed, so a corrupt or hostile file gives
``CorruptFlatbuffer`` instead of a huge allocation or a read past the end.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U16 = struct.Struct("<H")
SCALARS = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "f": 4, "d": 8, "?": 1}


class CorruptFlatbuffer(ValueError):
    """An offset or length points outside the buffer."""


class View:
    """One table inside ``buf`` at ``pos``."""

    __slots__ = ("buf", "pos", "_vt", "_vt_len")

    def __init__(self, buf: bytes | bytearray | memoryview, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        n = len(buf)
        if not 0 <= pos <= n - 4:
            raise CorruptFlatbuffer(f"table at {pos} is outside the {n}-byte buffer")
        vt = pos - _I32.unpack_from(buf, pos)[0]
        if not 0 <= vt <= n - 4:
            raise CorruptFlatbuffer(f"vtable of the table at {pos} is outside the buffer")
        vt_len = _U16.unpack_from(buf, vt)[0]
        if vt_len < 4 or vt + vt_len > n or vt_len % 2:
            raise CorruptFlatbuffer(f"vtable at {vt} has an invalid length {vt_len}")
        self._vt, self._vt_len = vt, vt_len

    @classmethod
    def root(cls, buf: bytes | bytearray | memoryview, identifier: bytes | None = None) -> View:
        """The root table; ``identifier`` (4 bytes) is checked when given."""
        if len(buf) < 8:
            raise CorruptFlatbuffer("shorter than a flatbuffer header")
        if identifier is not None and bytes(buf[4:8]) != identifier:
            raise CorruptFlatbuffer(f"file identifier is {bytes(buf[4:8])!r}, expected {identifier!r}")
        return cls(buf, _U32.unpack_from(buf, 0)[0])

    # ---- field access -----------------------------------------------------------------------------------------
    def _field(self, slot: int) -> int:
        """Absolute position of the field in ``slot``, 0 when it is absent."""
        entry = 4 + 2 * slot
        if entry >= self._vt_len:
            return 0
        rel = _U16.unpack_from(self.buf, self._vt + entry)[0]
        return self.pos + rel if rel else 0

    def has(self, slot: int) -> bool:
        return self._field(slot) != 0

    def field_position(self, slot: int) -> int:
        """Where the field's value is stored in ``buf`` (0 when absent): for in-place edits and mutation tests."""
        return self._field(slot)

    def scalar(self, slot: int, fmt: str, default: int | float | bool = 0) -> Any:
        """A scalar field (``fmt`` is a ``struct`` code: b B h H i I q Q f d ?)."""
        at = self._field(slot)
        if not at:
            return default
        self._need(at, SCALARS[fmt])
        return struct.unpack_from("<" + fmt, self.buf, at)[0]

    def _deref(self, at: int) -> int:
        self._need(at, 4)
        target: int = at + _U32.unpack_from(self.buf, at)[0]
        self._need(target, 4)
        return target

    def string(self, slot: int) -> bytes | None:
        at = self._field(slot)
        if not at:
            return None
        start, length = self._vector_at(self._deref(at), 1)
        return bytes(self.buf[start : start + length])

    def text(self, slot: int) -> str | None:
        raw = self.string(slot)
        return None if raw is None else raw.decode("utf-8", "replace")

    def table(self, slot: int) -> View | None:
        at = self._field(slot)
        return View(self.buf, self._deref(at)) if at else None

    union = table  # a union's value is a table reference; its type is the scalar in the slot before it

    def vector(self, slot: int, elem_size: int) -> tuple[int, int] | None:
        """(start, length) of a vector field's elements, None when absent."""
        at = self._field(slot)
        return self._vector_at(self._deref(at), elem_size) if at else None

    def numbers(self, slot: int, dtype: str) -> np.ndarray | None:
        """A vector of scalars as a numpy view (writable when ``buf`` is a bytearray)."""
        dt = np.dtype(dtype).newbyteorder("<")
        span = self.vector(slot, dt.itemsize)
        if span is None:
            return None
        start, length = span
        return np.frombuffer(self.buf, dtype=dt, count=length, offset=start)

    def tables(self, slot: int) -> list[View]:
        return list(self.iter_tables(slot))

    def table_at(self, slot: int, k: int) -> View:
        """Element ``k`` of a vector of tables, without building the others (``IndexError`` when out of range)."""
        span = self.vector(slot, 4)
        if span is None or not 0 <= k < span[1]:
            raise IndexError(f"table {k} of a vector of {0 if span is None else span[1]}")
        return View(self.buf, self._deref(span[0] + 4 * k))

    def iter_tables(self, slot: int) -> Iterator[View]:
        span = self.vector(slot, 4)
        if span is None:
            return
        start, length = span
        for k in range(length):
            yield View(self.buf, self._deref(start + 4 * k))

    def strings(self, slot: int) -> list[bytes]:
        span = self.vector(slot, 4)
        if span is None:
            return []
        start, length = span
        out = []
        for k in range(length):
            s, n = self._vector_at(self._deref(start + 4 * k), 1)
            out.append(bytes(self.buf[s : s + n]))
        return out

    # ---- checks -----------------------------------------------------------------------------------------------
    def _vector_at(self, at: int, elem_size: int) -> tuple[int, int]:
        length = _U32.unpack_from(self.buf, at)[0]
        start = at + 4
        # The length is checked against the bytes that are there before anything is allocated for it.
        self._need(start, length * elem_size)
        return start, length

    def _need(self, at: int, size: int) -> None:
        if at < 0 or at + size > len(self.buf):
            raise CorruptFlatbuffer(f"{size} bytes at {at} run past the end of the {len(self.buf)}-byte buffer")
