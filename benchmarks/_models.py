"""Models for the benchmark scripts: the embedded MNIST example and a MobileNetV2 (random weights, 224x224).

Keras' pretrained weights cannot be downloaded here, so MobileNetV2 has random weights: fine for timing,
meaningless for accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "mnist"


def mobilenet_v2(folder: Path) -> Path:
    import keras

    keras.utils.set_random_seed(0)
    path = folder / "mobilenet_v2.keras"
    keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), classes=1000).save(path)
    return path


def converted(folder: Path, model: Path, mode: str, samples: int = 20) -> Path:
    from edgelite.converter import ConvertConfig, convert

    out = folder / f"{model.stem}_{mode}.tflite"
    convert(ConvertConfig(model, out, calib=EXAMPLE / "calib" if mode == "int8" else None, mode=mode,
                          samples=samples))
    return out


def abba(rounds: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[list[float], list[float]]:
    """Interleave two measurements over rounds, alternating which goes first so slow drift cancels out."""
    xs: list[float] = []
    ys: list[float] = []
    for r in range(rounds):
        steps = [lambda: xs.append(a()), lambda: ys.append(b())]
        for step in (steps if r % 2 == 0 else steps[::-1]):
            step()
    return xs, ys
