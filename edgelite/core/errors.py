"""The error hierarchy. Library code raises these; only the CLI maps them to exit codes.

A bug has no class here: it is whatever Python raised (an assertion, a TypeError), and the CLI reports any
exception that is not an ``EdgeliteError`` as an internal error — exit 3, one line, the traceback in a file
(``-v`` prints it). Code catches the errors it means (a file's fault, a missing extra), never everything."""

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
