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
