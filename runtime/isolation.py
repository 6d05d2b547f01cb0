"""Process isolation for untrusted model files.

LiteRT verifies a model's flatbuffer before building it, but a mutated file can still pass the verifier and
crash the interpreter natively (measured: a byte-flipped MediaPipe face model segfaults in allocate_tensors()
with ai-edge-litert 2.3.0). A segfault cannot be caught in-process, so ``probe`` loads the file and invokes it
once in a child process first; a crash there becomes a one-line ``UserInputError`` here.

A clean probe is remembered by content hash (``probe_cache``), so the second process start is paid once per
model file and runtime, not on every command.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from edgelite.core.errors import UserInputError

PROBE_TIMEOUT_S = 300

_CHILD = """
import json, sys
import numpy as np
from edgelite.core.errors import EdgeliteError
from edgelite.runtime.backends import DelegateSpec
from edgelite.runtime.model import Model
args = json.loads(sys.argv[1])
try:
    m = Model.from_bytes(sys.stdin.buffer.read(), args["path"], backend=args["backend"], xnnpack=args["xnnpack"],
                         delegates=[DelegateSpec(p, o) for p, o in args["delegates"]])
    for k, t in enumerate(m.inputs):
        m.set_raw_input(np.zeros(t.shape, t.dtype), k)
    m.invoke_raw()
except EdgeliteError:
    sys.exit(2)   # a clean error: the caller's own load reports it with the same message
"""


def probe(path: str | os.PathLike[str], *, backend: str = "auto", xnnpack: bool = True,
          delegates: Sequence[tuple[str, dict[str, str]]] = (), content: bytes | None = None,
          cache: bool = True) -> str:
    """Load and invoke ``path`` once in a child process; raise ``UserInputError`` if that crashes or hangs.

    Returns ``"cached"`` when this content already probed clean with this backend (no process started),
    else ``"probed"``. ``cache=False`` (or ``EDGELITE_NO_CACHE=1``) always probes and records nothing."""
    from edgelite.runtime import probe_cache
    from edgelite.runtime.tflite_file import read_model_bytes

    # The child gets these exact bytes on stdin: what is recorded as clean is what was probed, even if the
    # file on disk is replaced meanwhile.
    data = content if content is not None else read_model_bytes(path)
    record = None
    if cache and not delegates and probe_cache.enabled():
        from edgelite.runtime.backends import select_backend

        chosen = select_backend(backend)  # the backend the caller will run with; the child must use the same
        backend = chosen.name
        record = probe_cache.key(data, backend=chosen.name, backend_version=chosen.version, xnnpack=xnnpack)
        if probe_cache.is_trusted(record):
            return "cached"
    import signal
    import subprocess

    args = json.dumps({"path": str(path), "backend": backend, "xnnpack": xnnpack,
                       "delegates": [[p, dict(o)] for p, o in delegates]})
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, args], input=data, capture_output=True,
                              timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserInputError(f"{path}: loading and running it once took over {PROBE_TIMEOUT_S} s in a test "
                             "process; the file is likely corrupt") from None
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise UserInputError(f"{path}: the interpreter crashed ({name}) loading or running this file in a "
                             "test process; the file is corrupt or not a valid TFLite model — re-create it")
    if proc.returncode == 0 and record is not None:
        probe_cache.remember(record)
    return "probed"
