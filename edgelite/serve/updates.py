"""What keeps ``edgelite serve`` in step with REPO while it runs: a file watcher (inotify on Linux, through
``watchfiles``) that polls the repository as soon as something in it changes, and a timed poll every
``poll_seconds`` as the backstop — for file systems that send no events (NFS, some container volumes) and for
a watch that missed a folder created between two events.

Both only call ``Repository.poll()``, which takes a lock, so they never load the same version twice. A poll
that raises is logged and the next one runs: a broken poll must not end hot updates for good.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from edgelite.serve.repository import Repository

log = logging.getLogger("edgelite.serve")
DEBOUNCE_MS = 300    # changes are gathered until the folder is quiet for 50 ms, for at most this long


def watch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("watchfiles") is not None


class Updater:
    """Background threads that poll ``repo`` on changes (``watch``) and every ``poll_seconds`` (> 0)."""

    def __init__(self, repo: Repository, *, poll_seconds: float, watch: bool) -> None:
        self.repo, self.poll_seconds, self.watch = repo, poll_seconds, watch
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _poll(self) -> None:
        try:
            self.repo.poll()
        except Exception:   # logged; the next change or tick polls again
            log.exception("repository poll failed")

    def _timed(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self._poll()

    def _watched(self) -> None:
        from watchfiles import watch

        root = self.repo.root
        try:
            for _changes in watch(root, stop_event=self._stop, debounce=DEBOUNCE_MS, step=50, recursive=True,
                                  rust_timeout=1000, raise_interrupt=False):
                self._poll()
        except (OSError, RuntimeError) as exc:   # e.g. the inotify watch limit: the timed poll carries on
            log.warning("watching %s for new model versions stopped (%s); polling every %s s continues", root,
                        exc, self.poll_seconds or "-")

    def start(self) -> None:
        jobs: list[tuple[str, Callable[[], None]]] = []
        if self.poll_seconds > 0:
            jobs.append(("edgelite-repo-poll", self._timed))
        if self.watch and self.repo.root.is_dir():   # a single .tflite has no versions to watch for
            jobs.append(("edgelite-repo-watch", self._watched))
        for name, target in jobs:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout)
