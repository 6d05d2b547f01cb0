"""One strict reader from parsed data (TOML tables, JSON objects) to typed frozen dataclasses.

``edgelite check``'s config (TOML), its baseline (JSON) and every saved report (``Record.from_dict``) go
through ``build``: the dataclass's annotations say what each key holds, and anything else — an unknown key
(a typo that would silently disable a budget), a missing required key, a wrong type, a non-finite number
where one is not allowed — is a one-line ``UserInputError`` naming the file and the key path::

    edgelite.toml: models[0].budgets.max_size_bytes: expected an integer, got '1k'

Types understood: ``bool``, ``int``, ``float`` (an integer is accepted and made a float), ``str``, ``Path`` (a
non-empty string), ``X | None``, ``list[X]``, ``tuple[X, ...]``, ``dict[str, X]`` and ``dict[int, X]`` (JSON
object keys are strings: decimal ones become ints), ``Any``, and nested dataclasses (a class with its own
``from_dict`` reads itself).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
import typing
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from edgelite.core.errors import UserInputError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class _Reading:
    file: str            # named first in every message ("" for none)
    finite: bool         # floats must be finite (a budget of nan would never, or always, hold)
    nulls: bool          # the format has null (JSON); TOML has none, so its messages never offer it


def _at(r: _Reading, key: str) -> str:
    return ": ".join(p for p in (r.file, key) if p)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        (item, *_) = typing.get_args(tp) or (Any,)
        return f"a list of {_type_name(item).split(' ', 1)[-1]}s"
    if origin is dict or (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            Path: "a path string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _fail(r: _Reading, key: str, tp: Any, value: Any, nullable: bool) -> UserInputError:
    null = " or null" if nullable and r.nulls else ""
    shown = repr(value)
    return UserInputError(f"{_at(r, key)}: expected {_type_name(tp)}{null}, got "
                          f"{shown if len(shown) <= 80 else shown[:77] + '...'}")


def _hints(cls: type) -> dict[str, Any]:
    localns: dict[str, Any] = {}
    for module in getattr(cls, "lazy_types", ()):
        localns.update(vars(importlib.import_module(module)))
    return typing.get_type_hints(cls, localns=localns)


def _own_reader(tp: type) -> Callable[[dict[str, Any]], Any] | None:
    """A dataclass's own ``from_dict`` when it has one other than ``Record``'s (which comes back here)."""
    reader = getattr(tp, "from_dict", None)
    if reader is None:
        return None
    from edgelite.core.report import Record

    if getattr(reader, "__func__", None) is Record.from_dict.__func__:   # type: ignore[attr-defined]
        return None
    return typing.cast("Callable[[dict[str, Any]], Any]", reader)


def _value(r: _Reading, tp: Any, value: Any, key: str, nullable: bool = False) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        options = [a for a in args if a is not type(None)]
        if value is None and len(options) < len(args):
            return None
        if len(options) == 1:
            return _value(r, options[0], value, key, nullable=len(options) < len(args))
        errors = []
        for option in options:
            try:
                return _value(r, option, value, key)
            except UserInputError as exc:
                errors.append(exc)
        raise errors[0]
    if tp is Any or tp is object:
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(r, key, tp, value, nullable)
        args = typing.get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise UserInputError(f"{_at(r, key)}: expected a list of {len(args)} values, got {len(value)}")
            return tuple(_value(r, a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
        item = args[0] if args else Any
        items = [_value(r, item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(r, key, tp, value, nullable)
        key_type, item = typing.get_args(tp) or (str, Any)
        out = {}
        for k, v in value.items():
            name = _join(key, str(k))
            if key_type is int and isinstance(k, str):
                if not (k.lstrip("-").isascii() and k.lstrip("-").isdigit()):
                    raise UserInputError(f"{_at(r, name)}: expected a whole-number key, got {k!r}")
                k = int(k)
            elif key_type is str and not isinstance(k, str):
                raise UserInputError(f"{_at(r, name)}: expected a string key, got {k!r}")
            out[k] = _value(r, item, v, name)
        return out
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(r, key, tp, value, nullable)
        reader = _own_reader(tp)
        if reader is None:
            return _record(r, tp, value, key, {})
        try:
            return reader(value)
        except UserInputError as exc:
            raise UserInputError(f"{_at(r, key)}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise UserInputError(f"{_at(r, key)}: not a valid {tp.__name__} ({type(exc).__name__}: {exc})") from None
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, str),
        Path: isinstance(value, str) and value != "",
    }.get(tp)
    if ok is None:
        raise AssertionError(f"edgelite.core.validate: no reader for {tp!r} ({key})")
    if not ok:
        raise _fail(r, key, tp, value, nullable)
    if tp is float:
        if r.finite and not math.isfinite(value):
            raise UserInputError(f"{_at(r, key)}: expected a finite number, got {value!r}")
        return float(value)
    return Path(value) if tp is Path else value


def _record(r: _Reading, cls: type[T], table: Mapping[str, Any], key: str, fixed: Mapping[str, Any],
            ignore: Collection[str] = ()) -> T:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)  # type: ignore[arg-type]
              if f.init and f.name not in fixed}
    extra = set(ignore) | set(getattr(cls, "json_extra_keys", ()))   # e.g. a nested report's kind
    unknown = sorted(set(table) - set(fields) - extra)
    if unknown:
        raise UserInputError(f"{_at(r, _join(key, str(unknown[0])))}: unknown key "
                             f"(known: {', '.join(sorted(fields))})")
    values: dict[str, Any] = dict(fixed)
    for name, f in fields.items():
        if name not in table:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserInputError(f"{_at(r, _join(key, name))}: required key missing")
            continue
        values[name] = _value(r, hints[name], table[name], _join(key, name))
    return cls(**values)


def build(cls: type[T], data: Any, *, file: str | Path | None = None, key: str = "", finite: bool = False,
          nulls: bool = True, fixed: Mapping[str, Any] | None = None, ignore: Collection[str] = ()) -> T:
    """``data`` (a parsed table) as the dataclass ``cls``, field by field, nested records included.

    ``file`` and ``key`` (the table's own key path, e.g. ``models[0].convert``) start every message;
    ``finite``: refuse nan and infinities; ``nulls``: the format has null (JSON), so messages offer it;
    ``fixed``: fields given by the caller (not read from ``data``); ``ignore``: keys ``data`` may hold that
    are not fields (a report's ``kind``)."""
    r = _Reading("" if file is None else str(file), finite, nulls)
    if not isinstance(data, dict):
        raise _fail(r, key, cls, data, False)
    return _record(r, cls, data, key, fixed or {}, ignore)
