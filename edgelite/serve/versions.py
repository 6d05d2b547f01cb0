"""Version policies of ``edgelite serve``: which versions of a model in REPO are served, as TensorFlow Serving
and Triton name them — ``latest`` (the highest valid version), ``latest:N`` (the N highest), ``all``, and
``specific`` versions pinned per model (``--pin NAME=3`` or ``--pin NAME=3,4``).

A policy only says which versions are wanted; the repository loads them, validates them and falls back to lower
ones when a wanted version is refused (``latest``), exactly as it does for new versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgelite.core.errors import UserInputError

MAX_PINNED = 64          # versions one --pin may name
MAX_LATEST = 64          # N of latest:N: each served version holds its interpreters in memory


@dataclass(frozen=True)
class VersionPolicy:
    """``count``: at most this many versions, highest first (None: no limit); ``pinned``: only these."""

    count: int | None = 1
    pinned: frozenset[int] | None = None

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """``latest``, ``latest:N`` or ``all`` (the ``--versions`` flag)."""
        kind, _, n = text.partition(":")
        if kind == "all" and not n:
            return cls(count=None)
        if kind == "latest" and (not n or (n.isdigit() and 1 <= int(n) <= MAX_LATEST)):
            return cls(count=int(n) if n else 1)
        raise UserInputError(f"--versions {text!r}: use latest, latest:N (N = 1-{MAX_LATEST}) or all")

    def candidates(self, versions: list[tuple[int, Path]]) -> list[tuple[int, Path]]:
        """The versions on disk this policy may serve, highest first (the repository stops at ``count``)."""
        chosen = [(v, p) for v, p in versions if self.pinned is None or v in self.pinned]
        return sorted(chosen, reverse=True)

    def describe(self) -> str:
        if self.pinned is not None:
            return "pinned " + ",".join(str(v) for v in sorted(self.pinned))
        return "all" if self.count is None else "latest" if self.count == 1 else f"latest:{self.count}"


def parse_pins(items: list[str]) -> dict[str, VersionPolicy]:
    """``--pin NAME=V[,V…]`` flags → the policy of each pinned model (``specific`` versions, no limit)."""
    from edgelite.serve.repository import valid_name

    pins: dict[str, VersionPolicy] = {}
    for item in items:
        name, _, raw = item.partition("=")
        parts = raw.split(",") if raw else []
        if not valid_name(name) or not parts or not all(p.isdigit() for p in parts) or len(parts) > MAX_PINNED:
            raise UserInputError(f"--pin {item!r}: use NAME=VERSION or NAME=V1,V2 (numeric versions, at most "
                                 f"{MAX_PINNED})")
        if name in pins:
            raise UserInputError(f"--pin: model {name!r} is pinned twice; list its versions in one --pin "
                                 f"{name}=V1,V2")
        pins[name] = VersionPolicy(count=None, pinned=frozenset(int(p) for p in parts))
    return pins
