"""``--target``: the presets, the real phone client reading a mediapipe-target file, GPU-delegate checks, and
targets that cannot be met (one-line errors, no file written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgelite.runtime import Model

pytestmark = pytest.mark.slow


def _mediapipe_classifier(path: Path):
    from mediapipe.tasks.python import BaseOptions, vision

    opts = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=str(path)), max_results=1)
    return vision.ImageClassifier.create_from_options(opts)


@pytest.fixture(scope="module")
def mediapipe_model(tmp_path_factory, example) -> tuple[Path, dict]:
    from edgelite.cli import main

    out = tmp_path_factory.mktemp("mp") / "mnist_mediapipe.tflite"
    report = out.with_suffix(".json")
    assert main(["convert", str(example / "model.keras"), "-o", str(out), "--target", "mediapipe", "--calib",
                 str(example / "calib"), "--labels", str(example / "labels.txt"), "--json", str(report)]) == 0
    return out, json.loads(report.read_text())


def test_mediapipe_target_picks_uint8_rgb_batch1(mediapipe_model):
    path, report = mediapipe_model
    assert (report["target"], report["mode"], report["io"]) == ("mediapipe", "int8", "uint8")
    assert any("RGB->gray layer" in w for w in report["warnings"])
    m = Model.load(path)
    assert m.input.shape == (1, 28, 28, 3) and m.input.dtype == np.uint8 and m.outputs[0].dtype == np.uint8
    assert m.spec.color == "rgb" and m.labels == tuple(str(d) for d in range(10))


def test_mediapipe_tasks_gives_the_same_top1_labels_as_edgelite(mediapipe_model, example):
    import mediapipe as mp

    path, _ = mediapipe_model
    model = Model.load(path)
    files = sorted((example / "eval").glob("*/*.png"))
    same = hits = 0
    names = set()
    with _mediapipe_classifier(path) as clf:
        for f in files:
            rgb = Image.open(f).convert("RGB")   # MediaPipe takes RGB only (it does not expand gray PNGs)
            top = clf.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.asarray(rgb))).classifications[0]
            category = top.categories[0]
            names.add(category.category_name)
            ours = model.classify(rgb, top_k=1)[0][0]
            same += category.category_name == ours
            hits += category.category_name == f.parent.name
    agreement = same / len(files)
    # measured: 500/500 agree, 97.40 % top-1 for both (the float model's 97.40 %)
    assert agreement >= 0.99, agreement
    assert hits / len(files) >= 0.95
    assert names <= set(model.labels)   # MediaPipe reports the model's own labels, read from the file


def test_litert_target_int8_io_is_what_mediapipe_refuses(example_models):
    """Why the preset exists: the default (int8 I/O) file is refused by the real client."""
    import mediapipe as mp

    with pytest.raises(Exception, match="(?i)int8|type mismatch"):
        with _mediapipe_classifier(example_models["int8"]) as clf:
            clf.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((28, 28, 3), np.uint8)))


def test_gpu_target_folds_the_dynamic_batch_and_passes_the_gpu_check(tmp_path, run_cli, example, example_models):
    out = tmp_path / "gpu.tflite"
    code, stdout, err = run_cli("convert", example / "model.keras", "-o", out, "--target", "gpu", "--json",
                                tmp_path / "r.json")
    assert code == 0, err
    r = json.loads((tmp_path / "r.json").read_text())
    assert (r["mode"], r["io"]) == ("float16", "float32") and r["gpu"]["fully_compatible"], r["gpu"]
    assert "target gpu: --mode float16" in stdout and "all ops have GPU kernels" in stdout
    assert Model.load(out).input.shape == (1, 28, 28, 1)
    # the litert default keeps Keras' dynamic batch: Flatten leaves SHAPE -> STRIDED_SLICE -> RESHAPE
    code, stdout, _ = run_cli("inspect", example_models["float32"], "--gpu")
    assert code == 0 and "SHAPE has no GPU kernel" in stdout and "3 on the CPU" in stdout


def test_gpu_target_warns_about_ops_without_gpu_kernels(tmp_path, run_cli):
    import tensorflow as tf

    class M(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 3], tf.float32, name="x")])
        def __call__(self, x):
            y = tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(x, tf.ones([3, 3, 3, 4]) * 0.1, 1, "SAME")), axis=[1, 2])
            return {"out": tf.nn.softmax(tf.round(y * 4.0))}

    m = M()
    tf.saved_model.save(m, str(tmp_path / "sm"), signatures=m.__call__)
    code, stdout, err = run_cli("convert", tmp_path / "sm", "-o", tmp_path / "r.tflite", "--target", "gpu")
    assert code == 0, err
    assert "not fully GPU-delegate compatible: 1 of" in stdout and "(ROUND)" in stdout


@pytest.mark.parametrize("extra, words", [
    (("--target", "mediapipe", "--io", "int8"), "MediaPipe Tasks refuses int8 input tensors"),
    (("--target", "gpu", "--mode", "int8"), "--target gpu takes --mode float16 (default) or float32"),
    (("--target", "gpu", "--io", "uint8"), "--target gpu keeps float32 I/O"),
    (("--target", "mediapipe", "--mode", "dynamic"),
     "--target mediapipe takes --mode int8 (default), float16 or float32"),
])
def test_unmeetable_flag_combinations_are_one_line_errors(tmp_path, run_cli, example, extra, words):
    out = tmp_path / "x.tflite"
    code, _, err = run_cli("convert", example / "model.keras", "-o", out, "--calib", example / "calib", *extra)
    assert code == 2 and words in err and err.strip().count("\n") == 0 and not out.exists(), err


def test_a_non_image_model_cannot_target_mediapipe(tmp_path, run_cli, sin_saved_model, float_calib_npy):
    out = tmp_path / "x.tflite"
    code, _, err = run_cli("convert", sin_saved_model, "-o", out, "--target", "mediapipe", "--mode", "float32")
    assert code == 2 and "is not an image with 1 or 3 channels" in err and "ImageClassifier" in err
    assert err.strip().count("\n") == 0 and not out.exists()
