"""Mutation check of model loading: corrupt, truncated and offset-scrambled copies of a .tflite file.

Every mutant is loaded and run in a child process (so a crash cannot take this one down); each must either
run or fail with edgelite's one-line UserInputError, never a signal (segfault) or another exception.

    .venv/bin/python scripts/fuzz_models.py MODEL.tflite [N] [SEED]
"""

from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import sys, numpy as np
from edgelite.errors import UserInputError
from edgelite.runtime import Model
for path in sys.argv[1:]:
    print(path, end=" ", flush=True)
    try:
        m = Model.load(path)
        m.predict(np.zeros(m.sample_shape, np.float32))
        print("ran", flush=True)
    except UserInputError:
        print("user-error", flush=True)
"""


def mutants(data: bytes, n: int, seed: int) -> list[bytes]:
    """Byte flips, truncations, and scrambled 4-byte offsets near the start (tables and vtables)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        b = bytearray(data)
        if k % 3 == 0:
            for _ in range(8):
                b[int(rng.integers(0, len(b)))] ^= int(rng.integers(1, 256))
        elif k % 3 == 1:
            b = b[: int(rng.integers(8, len(b)))]
        else:
            for _ in range(4):
                i = int(rng.integers(8, min(len(b), 2048))) & ~3
                b[i:i + 4] = int(rng.integers(0, 2**31)).to_bytes(4, "little")
        out.append(bytes(b))
    return out


def check(model: Path, n: int, seed: int = 0) -> collections.Counter:
    """Outcome counts: 'ran', 'user-error', or 'CRASH ...' for anything else."""
    outcomes: collections.Counter = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, b in enumerate(mutants(model.read_bytes(), n, seed)):
            p = Path(tmp) / f"m{k}.tflite"
            p.write_bytes(b)
            paths.append(str(p))
        while paths:
            proc = subprocess.run([sys.executable, "-c", CHILD, *paths], capture_output=True, text=True,
                                  timeout=600)
            done = [line.split() for line in proc.stdout.splitlines() if len(line.split()) == 2]
            outcomes.update(result for _, result in done)
            if proc.returncode == 0:
                break
            # the child died on the mutant it had started: record it and go on with the rest
            started = proc.stdout.splitlines()[-1].split()[0] if proc.stdout.strip() else paths[0]
            why = f"signal {-proc.returncode}" if proc.returncode < 0 else \
                (proc.stderr.strip().splitlines() or ["?"])[-1][:80]
            outcomes[f"CRASH {why}"] += 1
            paths = paths[paths.index(started) + 1:]
    return outcomes


if __name__ == "__main__":
    counts = check(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300,
                   int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(dict(counts))
    raise SystemExit(1 if any(k.startswith("CRASH") for k in counts) else 0)
