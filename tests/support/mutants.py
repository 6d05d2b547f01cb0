"""Mutation check of model loading: corrupt, truncated and offset-scrambled copies of a .tflite file, and
structured mutants that keep the flatbuffer valid but change what it says (shape dims, tensor types, buffer,
opcode and tensor indices, the appended labels zip).

Every mutant is loaded and run in a child process (so a crash cannot take this one down); each must either
run or fail with edgelite's one-line UserInputError, never a signal (segfault) or another exception.

    .venv/bin/python -m tests.support.mutants MODEL.tflite [N] [SEED] [bytes|structured]   (from the checkout root)
"""

from __future__ import annotations

import collections
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import sys, numpy as np
from edgelite.core.errors import UserInputError
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


def structured_mutants(data: bytes, n: int, seed: int) -> list[bytes]:
    """Valid flatbuffers with hostile contents: one field per mutant, chosen among tensor shape dims and types,
    tensor buffer indices, operator opcode indices and input/output tensor indices, and the labels zip."""
    from edgelite.runtime.flatbuf import View
    from edgelite.runtime.tflite_file import Slot

    rng = np.random.default_rng(seed)
    values = [0, 1, -1, 2, 255, 2**15, 2**31 - 1, -(2**31), 10**6]
    out = []
    for k in range(n):
        b = bytearray(data)
        model = View.root(b)
        sg = model.tables(Slot.MODEL_SUBGRAPHS)[0]
        tensors = sg.tables(Slot.SUBGRAPH_TENSORS)
        ops = sg.tables(Slot.SUBGRAPH_OPERATORS)
        value = int(rng.choice(values)) if rng.random() < 0.7 else int(rng.integers(-5, len(tensors) + 5))
        kind = k % 6
        if kind == 0:
            shape = tensors[int(rng.integers(len(tensors)))].numbers(Slot.TENSOR_SHAPE, "i4")
            if shape is not None and len(shape):
                shape[int(rng.integers(len(shape)))] = value
        elif kind in (1, 2):
            t = tensors[int(rng.integers(len(tensors)))]
            if kind == 1:
                at, raw = t.field_position(Slot.TENSOR_TYPE), struct.pack("<b", (value + 128) % 256 - 128)
            else:
                at, raw = t.field_position(Slot.TENSOR_BUFFER), struct.pack("<I", value % 2**32)
            if at:
                b[at:at + len(raw)] = raw
        elif kind == 3:
            at = ops[int(rng.integers(len(ops)))].field_position(Slot.OPERATOR_OPCODE_INDEX)
            if at:
                b[at:at + 4] = struct.pack("<I", value % 2**32)
        elif kind == 4:
            op = ops[int(rng.integers(len(ops)))]
            ids = op.numbers(Slot.OPERATOR_INPUTS if rng.random() < 0.5 else Slot.OPERATOR_OUTPUTS, "i4")
            if ids is not None and len(ids):
                ids[int(rng.integers(len(ids)))] = value
        else:
            zip_at = b.rfind(b"PK\x01\x02")  # central directory entry of the labels file
            if zip_at > 0:
                field = int(rng.choice([20, 24, 28, 42]))  # compressed size, size, name length, local offset
                b[zip_at + field:zip_at + field + 4] = struct.pack("<I", value % 2**32)
        out.append(bytes(b))
    return out


def check(model: Path, n: int, seed: int = 0, kind: str = "bytes") -> collections.Counter:
    """Outcome counts: 'ran', 'user-error', or 'CRASH ...' for anything else."""
    make = structured_mutants if kind == "structured" else mutants
    return run_mutants(make(model.read_bytes(), n, seed))[0]


def run_mutants(blobs: list[bytes]) -> tuple[collections.Counter, list[int]]:
    """(outcome counts, indices of the mutants that killed the loading process) for in-process loading."""
    outcomes: collections.Counter = collections.Counter()
    crashed: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for k, b in enumerate(blobs):
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
            crashed.append(int(Path(started).stem[1:]))
            paths = paths[paths.index(started) + 1:]
    return outcomes, crashed


if __name__ == "__main__":
    counts = check(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 300,
                   int(sys.argv[3]) if len(sys.argv) > 3 else 0, sys.argv[4] if len(sys.argv) > 4 else "bytes")
    print(dict(counts))
    raise SystemExit(1 if any(k.startswith("CRASH") for k in counts) else 0)
