"""A YOLO-style head [1, 4+C, A] with boxes in pixels beside sigmoid scores: the float model's outputs are
flagged as mixed-range, and full int8 really does wipe out its scores; the same head with normalised boxes is
not flagged and keeps them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgelite.runtime import Model

pytestmark = pytest.mark.slow

CLASSES = 3
N = 64
PIXELS = 320.0


def _head(scale: float):
    """A tiny conv net on 32x32x3: 8x8 = 64 anchors, output [1, 4+C, 64] = concat(boxes x scale, scores)."""
    import keras

    keras.utils.set_random_seed(1)
    x = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    h = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(h)
    boxes = keras.layers.Conv2D(4, 1, activation="sigmoid")(h)
    if scale != 1.0:
        boxes = keras.layers.Rescaling(scale)(boxes)
    scores = keras.layers.Conv2D(CLASSES, 1, activation="sigmoid")(h)
    y = keras.layers.Reshape((64, 4 + CLASSES))(keras.layers.Concatenate()([boxes, scores]))
    return keras.Model(x, keras.layers.Permute((2, 1), name="head")(y))


@pytest.fixture(scope="module")
def heads(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """{"mixed"|"normalised": (float .tflite, int8 .tflite)} converted by edgelite, and the calibration file."""
    from edgelite.converter import ConvertConfig, convert
    from edgelite.converter.config import QuantMode

    folder = tmp_path_factory.mktemp("mixed_range")
    np.save(folder / "calib.npy", np.random.default_rng(0).random((N, 32, 32, 3), dtype=np.float32))
    made: dict = {"reports": {}}
    for name, scale in (("mixed", PIXELS), ("normalised", 1.0)):
        source = folder / f"{name}.keras"
        _head(scale).save(source)
        f32, i8 = folder / f"{name}_f32.tflite", folder / f"{name}_i8.tflite"
        convert(ConvertConfig(model=source, output=f32, mode=QuantMode.FLOAT32))
        made["reports"][name] = convert(ConvertConfig(model=source, output=i8, calib=folder / "calib.npy", samples=N))
        made[name] = (f32, i8)
    return made


@pytest.fixture(scope="module")
def samples(heads) -> np.ndarray:
    return np.random.default_rng(0).random((N, 32, 32, 3), dtype=np.float32)


def test_pixel_boxes_beside_scores_are_warned_about(heads, samples):
    from edgelite.converter.mixed_range_check import mixed_range_warnings

    f32 = heads["mixed"][0]
    (line,) = mixed_range_warnings(f32.read_bytes(), samples, "keras")
    boxes = Model.load(f32).predict_all(samples)[0][:, :4]
    assert "'head'" in line and "channels 0–3" in line and f"channels 4–{3 + CLASSES}" in line
    assert f"{float(boxes.max()):.3g}" in line and "int8 steps" in line and "normalise the coordinates" in line
    (tflite_line,) = mixed_range_warnings(f32.read_bytes(), samples, "tflite")
    assert "publisher's normalised export" in tflite_line


def test_convert_reports_the_mixed_output(heads):
    mixed = [w for w in heads["reports"]["mixed"].warnings if "mixes ranges" in w]
    assert len(mixed) == 1 and "'head'" in mixed[0] and "channels 0–3" in mixed[0]
    assert "`edgelite compare` gives each group its error" in mixed[0]
    assert not [w for w in heads["reports"]["normalised"].warnings if "mixes ranges" in w]


def test_normalised_boxes_are_not_warned_about(heads, samples):
    from edgelite.converter.mixed_range_check import mixed_range_warnings

    assert mixed_range_warnings(heads["normalised"][0].read_bytes(), samples, "keras") == []


def _score_snr(pair: tuple[Path, Path], samples: np.ndarray) -> float:
    from edgelite.runtime.mixed_range import ChannelGroup, MixedRange, group_errors

    ref, cand = (Model.load(p).predict_all(samples)[0] for p in pair)
    split = MixedRange(1, (ChannelGroup(0, 3, 0.0, 1.0, True), ChannelGroup(4, 3 + CLASSES, 0.0, 1.0, False)))
    (_, _, _), (_, snr, _) = group_errors(ref, cand, split)
    assert snr is not None
    return snr


def test_the_warning_is_what_int8_costs(heads, samples):
    """Measured (64 samples): score-group SNR 2.5 dB with pixel boxes (~0.8 of 256 steps: every score rounds
    to 0) against 50.9 dB with normalised boxes; the boxes themselves keep ~50 dB either way."""
    mixed, normalised = _score_snr(heads["mixed"], samples), _score_snr(heads["normalised"], samples)
    assert mixed < 10.0, mixed
    assert normalised > 40.0, normalised
