"""Progress on stderr for steps that take seconds: tqdm bars over loops, and a ticking line for one blocking call
(TF's converter). Off when stderr is not a terminal (tqdm's ``disable=None``) and with ``edgelite --quiet``.

tqdm is imported on first use: a board's ``edgelite run`` never shows progress and should not pay for it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
QUIET_ENV = "EDGELITE_QUIET"   # set by ``edgelite --quiet``; read at each bar so tests and servers may set it
TICK_S = 0.5


def quiet() -> bool:
    return os.environ.get(QUIET_ENV, "") not in ("", "0")


def bar(iterable: Iterable[T] | None = None, *, desc: str, unit: str = "it", total: int | None = None,
        **options: Any) -> Any:
    """A tqdm bar that clears itself when done; disabled when quiet or when its stream is not a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit=unit, total=total, leave=False, disable=True if quiet() else None,
                **options)


@contextlib.contextmanager
def working(desc: str) -> Iterator[None]:
    """A line that shows ``desc`` and the elapsed time while one long call runs (refreshed every half second by
    a helper thread). It writes to a copy of the terminal's stderr taken before the call starts, so it stays
    visible while native logging on fd 2 is captured (``files.native_stderr_captured``)."""
    # every TF converter call passes here (dozens in a --max-drop search): off a terminal, no copy, no thread
    if quiet() or not os.isatty(2):
        yield
        return
    try:
        stream = os.fdopen(os.dup(2), "w", buffering=1)
    except OSError:   # fd 2 went away since: nothing to show progress on
        yield
        return
    done = threading.Event()
    with stream, bar(desc=desc, unit="s", file=stream, bar_format="{desc}: {elapsed}") as line:

        def tick() -> None:
            while not done.wait(TICK_S):
                line.refresh()

        ticker = threading.Thread(target=tick, daemon=True)
        ticker.start()
        try:
            yield
        finally:
            done.set()
            ticker.join()
