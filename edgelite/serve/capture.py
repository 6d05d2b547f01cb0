"""Sampled capture of live inputs and predictions (``serve --capture DIR``), so field data can feed the next
calibration (each file loads with ``np.load(f, allow_pickle=False)``; concatenate their ``x`` into one
``.npz`` for ``convert --calib``).

Each captured request is one ``.npz`` (``x``: the model-ready float input, batch first; ``y_pred``: the
argmax of the first output; ``outputs``: that output), written to a temporary name and renamed, so a reader
never sees half a file. The folder is capped at ``max_mb``: once full, capture stops (the count of skipped
requests is kept) instead of deleting anything. Which requests are kept is a seeded coin per request.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np

from edgelite.core.errors import UserInputError
from edgelite.core.files import atomic_path


class Capture:
    def __init__(self, folder: Path, rate: float, max_mb: float, seed: int = 0) -> None:
        if not 0.0 < rate <= 1.0:
            raise UserInputError(f"--capture-rate must be in (0, 1], got {rate}")
        if not max_mb > 0:
            raise UserInputError(f"--capture-max-mb must be > 0, got {max_mb}")
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise UserInputError(f"{folder}: capture folder is not writable")
        self.folder, self.rate, self.cap = folder, rate, int(max_mb * 1e6)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.used = sum(f.stat().st_size for f in folder.glob("*.npz") if f.is_file())
        self.saved = 0
        self.skipped_full = 0

    def take(self) -> bool:
        """The ``rate`` coin for one request: True when it is to be saved (``save``)."""
        with self._lock:
            return bool(self._rng.random() < self.rate)

    def save(self, model: str, version: int, x: np.ndarray, outputs: np.ndarray) -> bool:
        """Write one request (unless the folder is full); returns True when it was written."""
        buf = io.BytesIO()
        flat = np.asarray(outputs).reshape(len(outputs), -1)
        np.savez_compressed(buf, x=np.asarray(x, np.float32), y_pred=flat.argmax(axis=1).astype(np.int64),
                            outputs=flat.astype(np.float32))
        data = buf.getvalue()
        with self._lock:
            if self.used + len(data) > self.cap:
                self.skipped_full += 1
                return False
            self.used += len(data)
            n = self.saved
            self.saved += 1
        name = f"{model}-v{version}-{os.getpid()}-{n:08d}.npz"
        # the umask's mode, like every output (a service user's captures are read by whoever trains next)
        with atomic_path(self.folder / name, suffix=".tmp") as tmp:
            tmp.write_bytes(data)
        return True
