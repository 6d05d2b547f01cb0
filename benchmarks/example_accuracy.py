"""Int8 accuracy on the embedded MNIST example across calibration seeds and sample counts.

Prints float32 vs int8 top-1 on the 500 held-out digits, the drop, agreement and SNR. The test threshold in
tests/converter/test_example_accuracy.py comes from these figures (see README "Measured figures").

    .venv/bin/python benchmarks/example_accuracy.py [--seeds 0,1,2,3,4] [--samples 50,200]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edgelite.calibration import collect, open_source
from edgelite.converter import ConvertConfig, convert
from edgelite.runtime import Model, compare

EX = Path(__file__).resolve().parents[1] / "examples" / "mnist"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--samples", default="50,200")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.tflite"
        convert(ConvertConfig(EX / "model.keras", f32, mode="float32", labels=EX / "labels.txt"))
        ref = Model.load(f32)
        data = collect(open_source(EX / "eval", class_names=ref.labels), ref.spec, ref.sample_shape, None, 0,
                       shuffle=False)
        print(f"{'samples':>7} {'seed':>4} {'float top1':>10} {'int8 top1':>9} {'drop pts':>8} "
              f"{'agreement':>9} {'SNR dB':>7}")
        for n in (int(v) for v in args.samples.split(",")):
            for seed in (int(v) for v in args.seeds.split(",")):
                out = Path(tmp) / f"int8_{n}_{seed}.tflite"
                convert(ConvertConfig(EX / "model.keras", out, calib=EX / "calib", samples=n, seed=seed,
                                      labels=EX / "labels.txt"))
                r = compare(ref, Model.load(out), data.x, data.y)
                print(f"{n:>7} {seed:>4} {r.reference.top1:>10.2f} {r.candidate.top1:>9.2f} "
                      f"{r.top1_drop_pts:>8.2f} {r.agreement:>9.4f} {r.snr_db:>7.2f}")


if __name__ == "__main__":
    main()
