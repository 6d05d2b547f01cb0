"""Caps that can be raised from the environment (the others are constants beside their readers; the README's
"Limits and guarantees" lists them all)."""

from __future__ import annotations

import os

from edgelite.core.errors import UserInputError


def env_cap(name: str, default: int, unit: str) -> int:
    """``default``, or the whole number in the environment variable ``name`` (a one-line error otherwise)."""
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise UserInputError(f"{name}={raw!r}: expected a positive whole number of {unit}")
    return value


_MAX_DIGITS = 18   # below 2**63: a number of this many digits is converted in constant time


def ascii_uint(text: str, max_digits: int = _MAX_DIGITS) -> int | None:
    """The whole number ``text`` spells in ASCII digits (at most ``max_digits`` of them), else None.

    ``str.isdigit()`` is true for '²' and '١', which ``int()`` then refuses or reads as another number; a
    5000-digit string costs ``int()`` time and raises past Python's digit limit. Untrusted text (URL parts,
    headers, query strings, folder names) goes through here instead.
    """
    if not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
