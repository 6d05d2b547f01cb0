"""Anchor: onnx2tf's own ONNX -> full-integer int8 .tflite route (``onnx2tf -oiqt``), for benchmarks to compare
edgelite against.

Run it with the interpreter of ``.venv-onnx2tf`` (made by ``scripts/onnx2tf-venv``)::

    .venv-onnx2tf/bin/python benchmarks/anchors/onnx2tf_route.py MODEL.onnx --input-shape 1,3,48,192 \\
        --calib CALIB.npy --mean 0.5 --std 0.5 --out OUT_DIR

It prints exactly one JSON line on stdout::

    {"ok": bool, "tflite": path|null, "variant": str|null, "io": "int8"|"float32"|null, "seconds": float,
     "seconds_to_tflite": float|null, "error": str|null, "onnx2tf": version, "log": path}

A failed conversion is a result, not a crash: ``ok`` is false and ``error`` holds onnx2tf's last meaningful
error line; the full onnx2tf output is kept in ``OUT_DIR/onnx2tf.log``.

Calibration data. ``--calib`` takes what edgelite takes: float32 NHWC samples (N, H, W, C) already preprocessed,
i.e. ``(pixel/255 - mean) / std``. onnx2tf's ``-cind NAME NPY MEAN STD`` wants the opposite split: the .npy in
0..1 (``pixel/255``, NHWC, the TF layout) and it applies ``(x - mean) / std`` itself, one sample per step. So the
script undoes the normalisation (``x * std + mean``), writes that 0..1 array next to the output and hands onnx2tf
the same mean/std: the samples the quantizer sees are exactly edgelite's. ``--calib-space unit`` skips the undo for
a .npy that is already 0..1. (Without ``-cind`` onnx2tf would download MS-COCO images; this machine has no
internet, and a fair anchor calibrates on the same data anyway.)

Which file. ``-oiqt`` writes ``*_integer_quant.tflite`` (int8 inside, float32 I/O), ``*_full_integer_quant.tflite``
(int8 inside, I/O of ``-iqd``/``-oqd``, asked for as int8 here) and two int16-activation variants. The anchor takes
``full_integer_quant`` (int8 I/O, edgelite's own output form); if onnx2tf failed on that one but made
``integer_quant``, it takes that and says so in ``variant`` / ``io`` with ``ok`` true. The I/O dtypes reported are
read from the file, not assumed.

What the script adds around onnx2tf, each for a failure seen on this machine (details at each helper):
onnx2tf runs with its venv's ``bin/`` on PATH (it shells out to ``onnxsim``), in a working folder holding its
"sample images" file made from our calibration data (it would download one even with ``-cind``), and, only with
``--rename-nodes``, on a copy of the model whose node names TF accepts (paddle2onnx's ``Conv@0`` is refused). The
anchor's plain result is without ``--rename-nodes``; with it is what a user gets after fixing that one error.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Best first: (file-name suffix, variant name). int16-activation files are not int8 models, so never picked.
_VARIANTS: tuple[tuple[str, str], ...] = (
    ("_full_integer_quant.tflite", "full_integer_quant"),
    ("_integer_quant.tflite", "integer_quant"),
)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Lines that carry a reason; onnx2tf logs its failures as WARNING/ERROR lines and Python tracebacks.
_ERROR_LINE = re.compile(r"(Error|ERROR|Exception|failed|Failed|Traceback|Killed|Aborted|exit code)")
# TF/absl start-up chatter that matches the pattern but never explains a failure.
_NOISE = re.compile(r"(cuda_|cuInit|Unable to register|computation_placer|TF-TRT|rebuild TensorFlow|oneDNN)")


def _floats(text: str) -> list[float]:
    """Parse ``"0.485,0.456,0.406"`` (or one number, broadcast over channels) into floats."""
    return [float(v) for v in text.split(",") if v.strip()]


def _onnx_input_name(model: Path) -> str:
    """The single graph input of ``model`` (initializers listed as inputs in old IRs are not inputs)."""
    import onnx  # deferred: only needed when --input-name is not given

    graph = onnx.load(str(model), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    names = [i.name for i in graph.input if i.name not in inits]
    if len(names) != 1:
        raise SystemExit(f"expected one input, found {names}; pass --input-name")
    return names[0]


# TF's scope-name rule: onnx2tf names each Keras op after its ONNX node, and TF rejects anything else.
_BAD_SCOPE_CHARS = re.compile(r"[^A-Za-z0-9_.\\/>-]")


def _renamed_copy(model: Path, dest: Path) -> int:
    """Copy ``model`` to ``dest`` with node names TF accepts; returns how many names changed.

    Older paddle2onnx exports (PP-OCR mobile v2.0 cls; the v4 det/rec use ``p2o.Conv.0``) name nodes like
    ``Conv@0``; onnx2tf 1.29 passes that name to TF, which raises "'Softmax@0' is not a valid scope name". Only
    node names change (tensor names, hence the input name and the graph, stay as they are), so this is the fix a
    user makes after reading that error.
    """
    import onnx

    m = onnx.load(str(model))
    taken = {n.name for n in m.graph.node}
    changed = 0
    for node in m.graph.node:
        if _BAD_SCOPE_CHARS.search(node.name):
            new = base = _BAD_SCOPE_CHARS.sub("_", node.name)
            suffix = 0
            while new in taken:  # "Conv@0" and "Conv_0" must not collide
                suffix += 1
                new = f"{base}_{suffix}"
            taken.add(new)
            node.name = new
            changed += 1
    onnx.save(m, str(dest))
    return changed


def _unit_calib(calib: Path, mean: np.ndarray, std: np.ndarray, space: str, dest: Path) -> np.ndarray:
    """Write ``calib`` as onnx2tf wants it (float32 NHWC in 0..1) to ``dest``; returns that array."""
    data = np.load(calib).astype(np.float32)
    if data.ndim != 4:
        raise ValueError(f"calibration array must be NHWC (N,H,W,C); got shape {data.shape}")
    if space == "preprocessed":
        data = data * std + mean  # undo (x/255 - mean)/std: onnx2tf re-applies it with the same numbers
    data = data.astype(np.float32)
    np.save(dest, data)
    return data


# onnx2tf runs a check inference on 20 sample images even when -cind gives calibration data; it downloads them
# from GitHub unless this file lies in its working directory (this machine is offline).
_SAMPLE_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


def _write_sample_images(unit: np.ndarray, dest: Path) -> None:
    """Stand in for onnx2tf's downloaded sample file with 20 of our own 0..1 images at 128x128 (RGB).

    Resized by index sampling (nearest): these images only drive onnx2tf's layout checks, not calibration.
    """
    if unit.shape[-1] != 3:
        return  # onnx2tf only uses its samples for 3-channel inputs
    picks = unit[np.arange(20) % unit.shape[0]]
    rows = np.linspace(0, unit.shape[1] - 1, 128).round().astype(int)
    cols = np.linspace(0, unit.shape[2] - 1, 128).round().astype(int)
    np.save(dest / _SAMPLE_FILE, np.ascontiguousarray(picks[:, rows][:, :, cols], dtype=np.float32))


def _last_error(log: str) -> str | None:
    """The last line of onnx2tf's output that states a reason (a traceback's final line wins)."""
    lines = [_ANSI.sub("", raw).strip() for raw in log.splitlines()]
    lines = [ln for ln in lines if ln and not _NOISE.search(ln)]
    hits = [i for i, ln in enumerate(lines) if _ERROR_LINE.search(ln) and not ln.startswith("Traceback")]
    if not hits:
        return lines[-1][:400] if lines else None
    line = lines[hits[-1]]
    # Keras wraps the real reason: its "Exception encountered when calling layer" line is followed by it.
    if "Exception encountered when calling layer" in line and hits[-1] + 1 < len(lines):
        line += " " + lines[hits[-1] + 1]
    return line[:400]


def _venv_env() -> dict[str, str]:
    """This interpreter's environment with its venv's bin/ first on PATH.

    onnx2tf runs ``onnxsim`` as a command, not an import; with the venv not activated it is not found, onnx2tf
    only warns ("Failed to optimize") and goes on without simplification and without the shape rewrite that
    step also does, then fails on dynamic dims (seen on PP-OCR cls: "Dimension -1 must be >= 0").
    """
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _io_dtype(tflite: Path) -> str | None:
    """``"int8"``/``"float32"`` when every input and output has that dtype (read from the file), else a mix."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # the venv pins ai-edge-litert; TF's own interpreter is the same reader
        from tensorflow.lite.python.interpreter import Interpreter
    try:
        interp = Interpreter(model_path=str(tflite))
    except Exception:  # noqa: BLE001 - e.g. Flex ops this interpreter lacks: dtypes unknown, file still made
        return None
    dtypes = {np.dtype(d["dtype"]).name for d in interp.get_input_details() + interp.get_output_details()}
    return dtypes.pop() if len(dtypes) == 1 else "/".join(sorted(dtypes))


def convert(args: argparse.Namespace) -> dict[str, object]:
    """Run onnx2tf -oiqt on ``args.model``; returns the JSON report (never raises for a conversion failure)."""
    out = Path(args.out).resolve()
    work = out / "onnx2tf_work"
    # A stale file from an earlier run must not pass as this run's result.
    shutil.rmtree(work, ignore_errors=True)
    (out / "model_int8.tflite").unlink(missing_ok=True)
    work.mkdir(parents=True)
    log_path = out / "onnx2tf.log"
    report: dict[str, object] = {
        "ok": False, "tflite": None, "variant": None, "io": None, "seconds": 0.0, "seconds_to_tflite": None,
        "error": None, "onnx2tf": importlib.metadata.version("onnx2tf"), "log": str(log_path),
    }
    model = Path(args.model).resolve()
    name = args.input_name or _onnx_input_name(model)
    if args.rename_nodes:
        renamed = work / model.name  # same stem: onnx2tf names its outputs after the file
        report["renamed_nodes"] = _renamed_copy(model, renamed)
        model = renamed
    mean = np.asarray(_floats(args.mean), np.float32).reshape(1, 1, 1, -1)  # NHWC broadcast, as -cind wants
    std = np.asarray(_floats(args.std), np.float32).reshape(1, 1, 1, -1)
    calib = out / "calib_unit_nhwc.npy"
    unit = _unit_calib(Path(args.calib), mean, std, args.calib_space, calib)
    report["calib_samples"] = int(unit.shape[0])
    _write_sample_images(unit, work)

    cmd = [
        sys.executable, "-m", "onnx2tf",
        "-i", str(model), "-o", str(work),
        "-ois", f"{name}:{args.input_shape}",  # onnx2tf needs static shapes; PP-OCR exports are dynamic
        "-oiqt", "-qt", args.quant_type,  # full-integer quantization (per-channel weights by default)
        "-iqd", "int8", "-oqd", "int8",  # int8 I/O on *_full_integer_quant, like edgelite's output
        "-cind", name, str(calib), json.dumps(mean.tolist()), json.dumps(std.tolist()),
    ]
    start, start_wall = time.monotonic(), time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=_venv_env(),
                              cwd=work)
        log, rc = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        log = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        log, rc = log + f"\nonnx2tf timed out after {args.timeout} s (Killed)", -9
    report["seconds"] = round(time.monotonic() - start, 2)
    log_path.write_text(" ".join(cmd) + "\n\n" + log)

    stem = model.stem
    for suffix, variant in _VARIANTS:
        made = work / f"{stem}{suffix}"
        if made.is_file():
            dest = out / "model_int8.tflite"
            shutil.copyfile(made, dest)
            # When this file (not the int16 extras that follow) appeared: the cost a user pays for int8.
            report["seconds_to_tflite"] = round(made.stat().st_mtime - start_wall, 2)
            report.update(ok=True, tflite=str(dest), variant=variant, io=_io_dtype(dest))
            if variant != "full_integer_quant":  # say why the preferred file is missing
                report["error"] = _last_error(log)
            return report
    report["error"] = _last_error(log) or f"onnx2tf exit code {rc}, no integer .tflite written"
    return report


def main() -> None:
    """Parse arguments, convert, print one JSON line (exit 0 even on a failed conversion: it is a result)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="ONNX model")
    p.add_argument("--input-shape", required=True, help="static NCHW shape, e.g. 1,3,48,192")
    p.add_argument("--calib", required=True, help="float32 NHWC calibration samples (see --calib-space)")
    p.add_argument("--mean", required=True, help="per-channel (or one) mean of the 0..1 image, e.g. 0.5")
    p.add_argument("--std", required=True, help="per-channel (or one) std of the 0..1 image, e.g. 0.5")
    p.add_argument("--out", required=True, help="output folder (model_int8.tflite, onnx2tf.log)")
    p.add_argument("--calib-space", choices=("preprocessed", "unit"), default="preprocessed",
                   help="preprocessed: (x/255-mean)/std, edgelite's form (default); unit: x/255")
    p.add_argument("--input-name", help="ONNX input name (default: the model's only input)")
    p.add_argument("--rename-nodes", action="store_true",
                   help="give onnx2tf a copy whose node names TF accepts (paddle2onnx's 'Conv@0' fails)")
    p.add_argument("--quant-type", choices=("per-channel", "per-tensor"), default="per-channel")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before onnx2tf is killed")
    args = p.parse_args()
    Path(args.out).mkdir(parents=True, exist_ok=True)
    try:
        report = convert(args)
    except Exception as exc:  # noqa: BLE001 - our own step failed (bad .npy, unreadable model): still one JSON line
        report = {"ok": False, "tflite": None, "variant": None, "io": None, "seconds": 0.0,
                  "error": f"{type(exc).__name__}: {exc}"[:400],
                  "onnx2tf": importlib.metadata.version("onnx2tf")}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
