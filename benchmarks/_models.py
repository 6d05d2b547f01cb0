"""Models for the benchmark scripts: the embedded MNIST example and a MobileNetV2 (random weights, 224x224).

Keras' pretrained weights cannot be downloaded here, so MobileNetV2 has random weights: fine for timing,
meaningless for accuracy.
"""

from __future__ import annotations

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
