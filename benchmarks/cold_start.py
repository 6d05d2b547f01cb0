"""Cold start of `edgelite run` on one image vs a bare LiteRT + Pillow script doing the same job.

Each round starts fresh processes, interleaved (the order alternates by round so drift hits both alike):
- bare:      a 12-line script: Interpreter, Pillow decode + resize, quantize, invoke, print the top class;
- run:       `edgelite run MODEL IMAGE` with the probe cache warm (the file probed clean before), started as
             the installed console script (`edgelite` next to the interpreter; `-m edgelite` without one);
- run-probe: `edgelite run --no-cache MODEL IMAGE` (what the first run of a new file costs: the child probe).
Figures: median over rounds of the per-round ratio to bare, for wall time and for peak RSS (ru_maxrss of the
process and the children it waited for, from wait4). Also the in-process time of `import edgelite.runtime`
and of `from edgelite.runtime import Model` in a fresh interpreter (median over rounds).
Targets (issues 12 and 25): run ≤ 1.3x bare in wall time and peak RSS; import edgelite.runtime ≤ 0.15 s.

Bytecode is allowed to be written (PYTHONDONTWRITEBYTECODE is dropped for the children, and one unmeasured
warm-up round runs first), as after `pip install edgelite`; the probe cache lives in a temp folder.

    .venv/bin/python benchmarks/cold_start.py [--rounds 20] [--model M.tflite --image IMG] [--python PY]

Without --model, the embedded MNIST example is converted to int8 first (needs the convert extra). With
--python, every child runs under that interpreter (e.g. a board venv; under qemu only the ratios mean
anything).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

BARE = """
import sys
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1])
it.allocate_tensors()
inp, out = it.get_input_details()[0], it.get_output_details()[0]
_, h, w, c = inp["shape"]
img = Image.open(sys.argv[2]).convert("L" if c == 1 else "RGB").resize((int(w), int(h)), Image.BILINEAR)
x = np.asarray(img, np.float32).reshape(inp["shape"]) / 255.0
scale, zero = inp["quantization"]
it.set_tensor(inp["index"], np.clip(np.round(x / scale + zero), -128, 127).astype(inp["dtype"]) if scale else x)
it.invoke()
print(int(np.argmax(it.get_tensor(out["index"]))))
"""
IMPORT_TIME = """
import sys, time
t0 = time.perf_counter()
exec(sys.argv[1])
print(time.perf_counter() - t0)
"""


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one process, its waited-for children included."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {stderr.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1e3


def in_process_seconds(python: str, statement: str, env: dict[str, str]) -> float:
    out = subprocess.run([python, "-c", IMPORT_TIME, statement], env=env, capture_output=True, text=True,
                         check=True).stdout
    return float(out.strip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--image", type=Path)
    ap.add_argument("--python", default=sys.executable, help="interpreter the children run under")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = args.model
        if model is None:
            # In a child: Linux keeps a process's peak RSS across fork+exec, so a parent that has loaded
            # TensorFlow would make every child's peak at least its own.
            code = ("import sys; sys.path.insert(0, sys.argv[2]); from pathlib import Path; "
                    "from _models import EXAMPLE, converted; "
                    "print(converted(Path(sys.argv[1]), EXAMPLE / 'model.keras', 'int8'))")
            out = subprocess.run([sys.executable, "-c", code, str(folder), str(Path(__file__).resolve().parent)],
                                 capture_output=True, text=True, check=True).stdout
            model = Path(out.strip().splitlines()[-1])
        image = args.image or next((Path(__file__).resolve().parents[1] / "examples/mnist/eval/3").iterdir())
        bare = folder / "bare.py"
        bare.write_text(BARE)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "EDGELITE_NO_CACHE")}
        env["EDGELITE_CACHE_DIR"] = str(folder / "probe-cache")
        script = Path(args.python).parent / "edgelite"   # the console script `pip install` writes
        edgelite = [args.python, str(script)] if script.is_file() else [args.python, "-m", "edgelite"]
        commands = {
            "bare": [args.python, str(bare), str(model), str(image)],
            "run": [*edgelite, "run", str(model), str(image)],
            "run-probe": [*edgelite, "run", "--no-cache", str(model), str(image)],
        }
        for argv in commands.values():  # warm-up: bytecode written, probe cache filled, file in page cache
            timed(argv, env)
        wall: dict[str, list[float]] = {k: [] for k in commands}
        rss: dict[str, list[float]] = {k: [] for k in commands}
        imports: dict[str, list[float]] = {"import edgelite.runtime": [], "from edgelite.runtime import Model": []}
        names = list(commands)
        for r in range(args.rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                w, m = timed(commands[name], env)
                wall[name].append(w)
                rss[name].append(m)
            for statement in imports:
                imports[statement].append(in_process_seconds(args.python, statement, env))

        import resource

        floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        if floor > 0.5 * min(rss["bare"]):
            print(f"warning: this process peaked at {floor:.0f} MB; children's peak RSS cannot go below it")
        print(f"model {model.name}, image {image.name}, python {args.python}, {args.rounds} interleaved rounds "
              f"({' '.join(edgelite[1:])})")
        print(f"{'command':<10} {'wall s (median)':>15} {'x bare':>7} {'peak RSS MB':>12} {'x bare':>7}")
        for name in names:
            w_ratio = np.median(np.array(wall[name]) / np.array(wall["bare"]))
            m_ratio = np.median(np.array(rss[name]) / np.array(rss["bare"]))
            print(f"{name:<10} {np.median(wall[name]):>15.3f} {w_ratio:>7.2f} {np.median(rss[name]):>12.1f} "
                  f"{m_ratio:>7.2f}")
        for statement, seconds in imports.items():
            print(f"{statement}: {np.median(seconds):.3f} s (median; min {min(seconds):.3f})")


if __name__ == "__main__":
    main()
