"""The error hierarchy. Library code raises these; only the CLI maps them to exit codes."""

from __future__ import annotations


class EdgeliteError(Exception):
    """Base of every error edgelite raises on purpose."""

    exit_code = 2


class UserInputError(EdgeliteError):
    """A user mistake: missing file, bad flag value, wrong data. The message names the thing and the fix."""


class UnreadableImageError(UserInputError):
    """An image file exists but cannot be decoded. Data folders skip (and count) these."""


class MissingDependencyError(EdgeliteError):
    """An optional dependency is not installed; the message names the ``pip install`` to run."""


class ConversionError(EdgeliteError):
    """The converter could not produce the requested model (keeps the converter's message, names ops/layers)."""

    def __init__(self, message: str, *, details: str = "") -> None:
        super().__init__(message)
        self.details = details


class CheckFailed(EdgeliteError):
    """A requested check (for example an accuracy budget) did not hold."""

    exit_code = 1


class InternalError(EdgeliteError):
    """A bug in edgelite: something that should never happen did."""

    exit_code = 3
