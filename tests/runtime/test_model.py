import numpy as np
import pytest
from PIL import Image

from edgelite.core.errors import UserInputError
from edgelite.runtime import Model


def test_tensor_details_and_quantization(example_models):
    m = Model.load(example_models["int8"])
    assert m.input.dtype == np.int8 and m.outputs[0].dtype == np.int8
    assert m.input.quantized and m.input.shape == (1, 28, 28, 1)
    assert m.quantized and m.backend.name == "litert"
    # the example's input: pixels/255 in [0, 1] as int8, scale 1/255, zero point -128
    assert m.input.scale == pytest.approx(1 / 255) and m.input.zero_point == -128
    x = np.array([0.0, 0.5, 1.0, 2.0, -1.0], np.float32)
    q = m.input.quantize(x)
    # 0.5 / (1/255) is 127.49999 in float32 → 127 → -1; out-of-range values clamp to the int8 ends
    np.testing.assert_array_equal(q, np.array([-128, -1, 127, 127, -128], np.int8))
    np.testing.assert_allclose(m.input.dequantize(q)[:3], x[:3], atol=m.input.scale)


def test_predict_accepts_floats_images_paths_and_batches(example_models, example):
    m = Model.load(example_models["int8"])
    paths = sorted((example / "eval" / "7").glob("*.png"))[:3]
    pixels = np.stack([np.asarray(Image.open(p)) for p in paths])
    floats = pixels[..., None].astype(np.float32) / 255.0
    by_path = m.predict(paths)
    by_pixels = m.predict(pixels)
    by_float = m.predict(floats)
    by_pil = m.predict([Image.open(p) for p in paths])
    assert by_path.shape == (3, 10) and by_path.dtype == np.float32
    for other in (by_pixels, by_float, by_pil):
        np.testing.assert_array_equal(by_path, other)
    assert m.predict(floats[0]).shape == (1, 10)  # one sample without batch axis


def test_classify_uses_embedded_labels(example_models, example):
    m = Model.load(example_models["int8"])
    correct = 0
    for digit in ("0", "3", "8"):
        for p in sorted((example / "eval" / digit).glob("*.png"))[:5]:
            top = m.classify(p, top_k=3)
            assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]
            correct += top[0][0] == digit
    assert correct >= 13  # the example model is ~97 % accurate


def test_float_model_runs_with_same_api(example_models, example):
    m = Model.load(example_models["float32"], threads=2)
    assert not m.quantized and m.input.dtype == np.float32
    p = sorted((example / "eval" / "5").glob("*.png"))[0]
    assert m.classify(p)[0][0] == Model.load(example_models["int8"]).classify(p)[0][0]


def test_xnnpack_off_gives_same_int8_results(example_models):
    x = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32)
    on = Model.load(example_models["int8"]).predict(x)
    off = Model.load(example_models["int8"], xnnpack=False).predict(x)
    np.testing.assert_allclose(on, off, atol=2 * Model.load(example_models["int8"]).outputs[0].scale)


def test_input_errors(example_models, tmp_path):
    m = Model.load(example_models["int8"])
    with pytest.raises(UserInputError, match="does not fit"):
        m.predict(np.zeros((2, 32, 32, 1), np.float32))
    with pytest.raises(UserInputError, match="NaN"):
        m.predict(np.full((28, 28, 1), np.nan, np.float32))
    with pytest.raises(UserInputError, match="cannot use dict"):
        m.predict({"a": 1})


@pytest.mark.parametrize("content, needle", [
    (b"", "not a TFLite model"),
    (b"hello world, not a model", "not a TFLite model"),
    (b"\xff\xff\xff\x7fTFL3" + b"\0" * 8, "truncated or corrupt"),
])
def test_not_a_model(tmp_path, content, needle):
    p = tmp_path / "bad.tflite"
    p.write_bytes(content)
    with pytest.raises(UserInputError, match=needle):
        Model.load(p)


def test_truncated_model_is_a_clear_error(example_models, tmp_path):
    data = example_models["int8"].read_bytes()
    p = tmp_path / "half.tflite"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserInputError, match="half.tflite"):
        Model.load(p)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserInputError, match="no such file"):
        Model.load(tmp_path / "nope.tflite")
    with pytest.raises(UserInputError, match="is a folder"):
        Model.load(tmp_path)


def test_bad_threads_and_backend(example_models):
    with pytest.raises(UserInputError, match="threads"):
        Model.load(example_models["int8"], threads=0)
    with pytest.raises(UserInputError, match="unknown backend"):
        Model.load(example_models["int8"], backend="onnx")


@pytest.mark.slow
def test_tf_lite_backend_matches_litert(example_models):
    """The last-resort backend (tf.lite.Interpreter, needs TensorFlow) gives the same int8 outputs."""
    x = np.random.default_rng(2).random((3, 28, 28, 1), dtype=np.float32)
    litert = Model.load(example_models["int8"], backend="litert")
    tf_backend = Model.load(example_models["int8"], backend="tf")
    assert tf_backend.backend.name == "tf" and tf_backend.labels == litert.labels
    np.testing.assert_allclose(tf_backend.predict(x), litert.predict(x), atol=2 * litert.outputs[0].scale)


def test_tflite_runtime_backend_refuses_numpy2_clearly():
    from edgelite.core.errors import MissingDependencyError
    from edgelite.runtime.backends import select_backend

    if int(np.__version__.split(".")[0]) < 2:   # the refusal must not fire under numpy 1.x
        try:
            select_backend("tflite-runtime")
        except MissingDependencyError as exc:
            assert "numpy<2" not in str(exc)
        return
    with pytest.raises(MissingDependencyError, match="numpy<2"):
        select_backend("tflite-runtime")
