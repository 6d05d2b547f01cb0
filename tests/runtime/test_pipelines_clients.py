"""Resize pipelines against the real clients, on real photos (scikit-image's, and crops of them).

* MediaPipe Tasks 1.2.2: a *probe* model (uint8 image in → the same values out as class scores) makes the
  ImageClassifier report exactly the tensor it fed the model; edgelite's ``mediapipe`` pipeline must equal it
  bit for bit. Then a real ``--target mediapipe`` conversion: MediaPipe's top-1 and scores vs ``edgelite``'s.
* TensorFlow: the ``tf`` pipeline against ``tf.image.resize(bilinear, antialias=False)`` within 1e-4.
* The Task Library (``tflite-support``) needs numpy<2 and protobuf<4, so it cannot share this venv: its
  parity is measured by ``benchmarks/pipeline_parity.py`` in a venv of its own (README: How far to trust).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.calibration.resize import Pipeline, resize
from edgelite.converter import metadata_writer
from edgelite.runtime import Model

pytestmark = pytest.mark.slow

PROBE_HW = (40, 56)


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> Path:
    """uint8 (1, 40, 56, 3) → uint8 (1, 6720) scores equal to the input pixels (quantize/reshape, one scale)."""
    import tensorflow as tf


    h, w = PROBE_HW
    folder = tmp_path_factory.mktemp("probe")

    class Identity(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, h, w, 3], tf.float32, name="image")])
        def __call__(self, x):
            return {"scores": tf.reshape(x * 1.0, [1, h * w * 3])}

    m = Identity()
    tf.saved_model.save(m, str(folder / "sm"), signatures=m.__call__)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(folder / "sm"))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.full((1, h, w, 3), v, np.float32)] for v in (0.0, 1.0))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.uint8
    spec = PreprocessSpec(height=h, width=w, pipeline="mediapipe")
    path = folder / "probe.tflite"
    path.write_bytes(metadata_writer.embed(conv.convert(), spec=spec, labels=None, provenance={}, name="probe",
                              description="identity probe"))
    return path


def _classifier(path: Path, max_results: int = -1):
    from mediapipe.tasks.python import BaseOptions, vision

    return vision.ImageClassifier.create_from_options(
        vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=max_results))


def _scores(clf, image, n: int) -> np.ndarray:
    cats = clf.classify(image).classifications[0].categories
    v = np.zeros(n)
    for c in cats:
        v[c.index] = c.score
    return v


def _mp_image(rgb: np.ndarray):
    import mediapipe as mp

    return mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))


def _cases(photos: Path) -> list[np.ndarray]:
    """Every photo and crop, plus small crops that MediaPipe has to upscale."""
    out = []
    for f in sorted(photos.glob("*.png")):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        out.append(rgb)
        if "_crop" not in f.name:
            out += [rgb[5:35, 9:49], rgb[:33, :20], rgb[3:83, 1:113]]   # up, up, exactly 2x down
    return out


def test_mediapipe_pipeline_is_bit_exact_with_mediapipe_tasks(probe, photos):
    h, w = PROBE_HW
    cases = _cases(photos)
    differing = []
    with _classifier(probe) as clf:
        for rgb in cases:
            fed = np.round(_scores(clf, _mp_image(rgb), h * w * 3) * 255).astype(np.int64).reshape(h, w, 3)
            ours = resize(rgb, h, w, Pipeline.MEDIAPIPE).astype(np.int64)
            if not np.array_equal(fed, ours):
                differing.append((rgb.shape, int(np.abs(fed - ours).max())))
    assert len(cases) >= 80
    assert differing == []          # measured: 0 of 90 differ (and 0 of 250 random crops, README)


def test_pillow_resize_is_not_what_mediapipe_feeds(probe, photos):
    """Negative control: the old path (Pillow, antialiased) differs from MediaPipe on downscaled photos."""
    h, w = PROBE_HW
    with _classifier(probe) as clf:
        f = photos / "astronaut.png"
        rgb = np.asarray(Image.open(f).convert("RGB"))
        fed = np.round(_scores(clf, _mp_image(rgb), h * w * 3) * 255).reshape(h, w, 3)
    pil = PreprocessSpec(height=h, width=w, pipeline="pil").to_pixels(f).astype(float)
    assert np.abs(fed - pil).mean() > 1.0   # measured: 20.3 levels on average


def test_mediapipe_applies_exif_orientation_and_so_does_the_pipeline(probe, photos, tmp_path):
    import mediapipe as mp

    h, w = PROBE_HW
    src = Image.open(photos / "chelsea.png")
    exif = Image.Exif()
    exif[0x0112] = 6                      # rotate 90° clockwise on display
    path = tmp_path / "rotated.jpg"
    src.save(path, quality=92, exif=exif)
    spec = PreprocessSpec(height=h, width=w, pipeline="mediapipe")
    stored = PreprocessSpec(height=h, width=w, pipeline="tf").to_pixels(path)      # tf: no EXIF
    ours = spec.to_pixels(path).astype(float)
    with _classifier(probe) as clf:
        fed = np.round(_scores(clf, mp.Image.create_from_file(str(path)), h * w * 3) * 255).reshape(h, w, 3)
    # MediaPipe decodes JPEG with stb_image, Pillow with libjpeg-turbo: ±2 levels, 0.07 on average (measured)
    assert np.abs(fed - ours).mean() < 0.5 and np.abs(fed - ours).max() <= 4
    assert np.abs(fed - stored).mean() > 10          # the un-rotated pixels are far off
    rotated = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(ours, resize(rotated, h, w, Pipeline.MEDIAPIPE))


@pytest.mark.parametrize("size", [(160, 160), (224, 224), (40, 300)])
def test_tf_pipeline_matches_tf_image_resize(photos, size):
    import tensorflow as tf

    spec = PreprocessSpec(height=size[0], width=size[1], pipeline="tf")
    worst = 0.0
    for f in sorted(photos.glob("*.png")):
        want = tf.image.resize(np.asarray(Image.open(f).convert("RGB")), size, method="bilinear",
                               antialias=False).numpy()
        worst = max(worst, float(np.abs(spec.to_pixels(f) - want).max()))
    assert worst <= 1e-4, worst    # measured: 0.0 (same float32 formula)


@pytest.fixture(scope="module")
def mediapipe_cnn(tmp_path_factory, photos) -> Path:
    from edgelite.cli import main
    from tests.conftest import small_photo_cnn

    folder = tmp_path_factory.mktemp("mpcnn")
    source = small_photo_cnn(folder / "cnn.keras")
    out = folder / "cnn_mediapipe.tflite"
    assert main(["convert", str(source), "-o", str(out), "--target", "mediapipe", "--calib", str(photos),
                 "--mean", "127.5", "--std", "127.5", "--samples", "63"]) == 0
    return out


def test_target_mediapipe_file_carries_the_pipeline_and_a_raw_pixel_input(mediapipe_cnn):
    m = Model.load(mediapipe_cnn)
    assert m.spec.pipeline == "mediapipe" and m.input.dtype == np.uint8
    # pinned: MediaPipe copies raw pixels into the uint8 input, so (q − 128) / 127.5 must be the normalization
    assert m.input.zero_point == 128 and m.input.scale == pytest.approx(1 / 127.5, rel=1e-6)


def test_mediapipe_tasks_and_edgelite_give_the_same_top1_and_scores_on_photos(mediapipe_cnn, photos):
    m = Model.load(mediapipe_cnn)
    control = Model.load(mediapipe_cnn).with_spec(dataclasses.replace(m.spec, pipeline="pil"))
    files = sorted(photos.glob("*.png"))
    same = same_scores = control_same_scores = 0
    with _classifier(mediapipe_cnn) as clf:
        for f in files:
            theirs = _scores(clf, _mp_image(np.asarray(Image.open(f).convert("RGB"))), 19)
            ours, old = m.predict(f)[0], control.predict(f)[0]
            same += int(np.argmax(theirs)) == int(np.argmax(ours))
            same_scores += np.abs(theirs - ours).max() <= 1 / 256
            control_same_scores += np.abs(theirs - old).max() <= 1 / 256
    assert same / len(files) >= 0.98 and same_scores / len(files) >= 0.98   # measured: 63/63 and 63/63
    assert control_same_scores < same_scores                                 # the pil pipeline does not match


def test_unknown_pipeline_in_a_file_is_a_one_line_error_naming_the_known_ones():
    from edgelite.core.errors import UserInputError

    with pytest.raises(UserInputError, match="known: pil, mediapipe, tflite-support, tf"):
        PreprocessSpec.from_dict({"height": 8, "width": 8, "pipeline": "opencv-9"})


@pytest.mark.parametrize("extra, words", [
    (("--resize-pipeline", "opencv"), "unknown resize pipeline 'opencv'; known: pil, mediapipe, tflite-support, tf"),
    (("--target", "mediapipe", "--resize-pipeline", "tf"), "--target mediapipe resizes as its client does"),
    (("--resize-pipeline", "tf", "--resize", "bicubic"), "the tf pipeline resizes bilinearly only"),
])
def test_bad_pipeline_flags_are_one_line_errors(tmp_path, run_cli, example, extra, words):
    out = tmp_path / "x.tflite"
    code, _, err = run_cli("convert", example / "model.keras", "-o", out, "--calib", example / "calib", *extra)
    assert code == 2 and words in err and err.strip().count("\n") == 0 and not out.exists(), err


def test_run_can_override_the_pipeline_and_rejects_unknown_names(run_cli, example_models, photos):
    code, out, err = run_cli("run", example_models["int8"], photos / "astronaut.png", "--resize-pipeline", "tf")
    assert code == 0, err
    code, _, err = run_cli("run", example_models["int8"], photos / "astronaut.png", "--resize-pipeline", "cv2")
    assert code == 2 and "known: pil, mediapipe, tflite-support, tf" in err
