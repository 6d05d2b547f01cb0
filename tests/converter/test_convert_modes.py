"""Real conversions of small Keras 3, tf_keras .h5, Keras 3 .h5 and SavedModel models in every mode."""

import numpy as np
import pytest

from edgelite.calibration import collect, open_source
from edgelite.converter import ConvertConfig, convert
from edgelite.converter.loading import load_source
from edgelite.converter.reference import TFReference
from edgelite.runtime import Model

pytestmark = pytest.mark.slow

# mode → (input dtype, integer activations?, min cosine vs the Keras/TF output)
EXPECT = {
    "int8": (np.int8, True, 0.99),
    "int16x8": (np.float32, True, 0.999),
    "float16": (np.float32, False, 0.9999),
    "dynamic": (np.float32, False, 0.999),
    "float32": (np.float32, False, 0.999999),
}
SOURCES = ["keras3_file", "keras3_h5", "tf_keras_h5", "saved_model_dir"]
KINDS = {"keras3_file": "keras", "keras3_h5": "h5-keras3", "tf_keras_h5": "h5-tf_keras",
         "saved_model_dir": "saved_model"}


@pytest.mark.parametrize("mode", list(EXPECT))
@pytest.mark.parametrize("source", SOURCES)
def test_convert_every_source_in_every_mode(source, mode, request, rgb_images, tmp_path):
    model_path = request.getfixturevalue(source)
    out = tmp_path / f"{mode}.tflite"
    report = convert(ConvertConfig(model_path, out, calib=rgb_images, mode=mode, samples=16))
    dtype, integer, min_cos = EXPECT[mode]
    assert out.is_file() and report.size_bytes == out.stat().st_size
    assert report.source_kind == KINDS[source]
    assert report.mode == mode and report.float_ops == []
    assert report.calibration.used == (16 if mode in ("int8", "int16x8") else 0)

    m = Model.load(out)
    assert m.input.dtype == dtype and m.quantized == integer
    assert m.spec is not None and m.spec.height == 8 and m.spec.color == "rgb"
    assert m.metadata.provenance["mode"] == mode

    # Same images through the embedded spec, compared with the source model run by TensorFlow.
    data = collect(open_source(rgb_images), m.spec, m.sample_shape, 8, 0)
    with load_source(model_path) as src:
        ref = TFReference(src)
        want = np.concatenate([ref.run_one(s)[0] for s in data.x])
    got = m.predict(data.x)
    cos = np.sum(want * got, 1) / (np.linalg.norm(want, axis=1) * np.linalg.norm(got, axis=1))
    assert cos.min() >= min_cos, (mode, cos.min())


def test_float_io_and_uint8_io_for_int8(keras3_file, rgb_images, tmp_path):
    f = convert(ConvertConfig(keras3_file, tmp_path / "f.tflite", calib=rgb_images, io="float32", samples=8))
    m = Model.load(tmp_path / "f.tflite")
    assert m.input.dtype == np.float32 and m.quantized and f.io == "float32"
    u = convert(ConvertConfig(keras3_file, tmp_path / "u.tflite", calib=rgb_images, io="uint8", samples=8))
    assert Model.load(tmp_path / "u.tflite").input.dtype == np.uint8
    assert any("uint8" in w and "XNNPACK" in w for w in u.warnings)


def test_spec_flags_are_embedded(keras3_file, rgb_images, tmp_path):
    out = tmp_path / "m.tflite"
    convert(ConvertConfig(keras3_file, out, calib=rgb_images, samples=8, mean=(127.5,), std=(127.5,),
                          resize="bicubic", color="bgr"))
    spec = Model.load(out).spec
    assert (spec.mean, spec.std, spec.resize, spec.color) == ((127.5,), (127.5,), "bicubic", "bgr")


def test_labels_from_class_folders(saved_model_dir, example, tmp_path):
    """A labelled calibration folder whose class count matches the output gives the labels."""
    from PIL import Image

    root = tmp_path / "classes"
    for name in ("ant", "bee", "cat", "dog"):
        (root / name).mkdir(parents=True)
        for p in sorted((example / "calib").glob("*.png"))[:3]:
            Image.open(p).save(root / name / p.name)
    out = tmp_path / "m.tflite"
    report = convert(ConvertConfig(saved_model_dir, out, calib=root, samples=12))
    assert Model.load(out).labels == ("ant", "bee", "cat", "dog")
    assert report.calibration.class_counts == {0: 3, 1: 3, 2: 3, 3: 3}
