"""``analyze`` (per-layer int8 error, ranked) and the pre-flight warnings, on real and purpose-built models."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgelite.converter import ConvertConfig, convert
from edgelite.converter.analyze import analyze

pytestmark = pytest.mark.slow


def test_analyze_cli_ranks_layers_with_json(example, tmp_path, run_cli):
    out = tmp_path / "a.json"
    code, stdout, err = run_cli("analyze", str(example / "model.keras"), "--calib", str(example / "calib"),
                                "--eval", str(example / "eval"), "--eval-samples", "100", "--json", str(out))
    assert code == 0, err
    r = json.loads(out.read_text())
    assert r["kind"] == "analyze" and r["samples"] == 100 and r["labelled"] and r["float_top1"] > 90
    layers = r["layers"]
    assert {row["layer"] for row in layers} >= {"conv1", "conv2", "fc1", "probability"}
    contrib = [row["contribution_pct"] for row in layers]
    assert contrib == sorted(contrib, reverse=True)
    assert [row["rank"] for row in layers] == list(range(1, len(layers) + 1))
    for row in layers:
        assert row["rmse"] >= 0 and row["max_abs_error"] >= row["rmse"]
        # about one rounding step of error per int8 tensor (measured 0.22-0.38 steps on this model); far more
        # would mean a miscalibrated range, far less that the tensor was not quantized at all
        assert 0.1 < row["rmse_per_scale"] < 1.0
        assert row["snr_db"] is None or row["snr_db"] > 20  # measured 40-47 dB on this model
    # the compute layers carry the error; max-pooling only passes it on (measured 0.0 %)
    by_layer = {row["layer"]: row for row in layers}
    assert by_layer["conv2"]["contribution_pct"] > by_layer["pool2"]["contribution_pct"]
    assert "contribution" in stdout and "conv2" in stdout


def test_measure_limits_the_requantized_layers_and_keeps_the_rest_ranked_by_weight_noise(example, tmp_path,
                                                                                      run_cli):
    every, few = tmp_path / "all.json", tmp_path / "few.json"
    base = ("analyze", str(example / "model.keras"), "--calib", str(example / "calib"), "--samples", "60")
    assert run_cli(*base, "--measure", "all", "--json", str(every))[0] == 0
    code, stdout, err = run_cli(*base, "--measure", "2", "--json", str(few))
    assert code == 0, err
    full, cut = json.loads(every.read_text())["layers"], json.loads(few.read_text())["layers"]
    assert len(cut) == len(full) > 2 and all(row["contribution_pct"] is not None for row in full)
    measured = [row for row in cut if row["contribution_pct"] is not None]
    rest = [row for row in cut if row["contribution_pct"] is None]
    # the two measured are the two whose int8 weights add the most noise, listed first; ops without weights last
    def noise(row):
        return (row["weight_noise"] is None, -(row["weight_noise"] or 0.0))

    by_noise = sorted(full, key=noise)
    assert {row["tensor"] for row in measured} == {row["tensor"] for row in by_noise[:2]}
    assert cut[:2] == measured and all(row["loss_pts_if_float"] is None for row in rest)
    assert [noise(row) for row in rest] == sorted(noise(row) for row in rest)
    assert {row["op"] for row in full if row["weight_noise"] is None} <= {"MAX_POOL_2D", "SOFTMAX", "MEAN", "ADD"}
    same = {row["tensor"]: row["contribution_pct"] for row in full}
    assert all(row["contribution_pct"] == same[row["tensor"]] for row in measured)   # two at a time, same figures
    assert run_cli(*base, "--measure", "some")[0] == 2


def test_analyze_without_eval_uses_calibration_and_unlabelled_metric(example):
    r = analyze(ConvertConfig(example / "model.keras", example / "x.tflite", calib=example / "calib", samples=40))
    assert r.samples == 40 and not r.labelled and r.float_top1 is None and "calibration data" in r.evaluated_on
    assert 0.9 <= r.int8.agreement <= 1.0


def test_blank_and_mis_scaled_calibration_arrays_warn(example, tmp_path):
    blank = tmp_path / "blank.npy"
    np.save(blank, np.zeros((30, 28, 28, 1), np.float32))
    r = convert(ConvertConfig(example / "model.keras", tmp_path / "b.tflite", calib=blank))
    assert any("blank or constant" in w for w in r.warnings)
    pixels = tmp_path / "pixels.npy"  # 0-255 arrays for a model whose spec (std 255) expects 0-1
    rng = np.random.default_rng(0)
    np.save(pixels, rng.integers(0, 256, (30, 28, 28, 1)).astype(np.float32))
    r = convert(ConvertConfig(example / "model.keras", tmp_path / "p.tflite", calib=pixels))
    assert any("calibration arrays span [0, 255]" in w and "expects inputs in [0, 1]" in w for w in r.warnings)
    good = tmp_path / "good.npy"
    np.save(good, rng.random((30, 28, 28, 1), dtype=np.float32))
    r = convert(ConvertConfig(example / "model.keras", tmp_path / "g.tflite", calib=good))
    assert not any("span" in w or "blank" in w for w in r.warnings)


def test_eval_data_beyond_calibration_range_warns(example, tmp_path):
    calib, ev = tmp_path / "c.npz", tmp_path / "e.npz"
    rng = np.random.default_rng(0)
    np.savez(calib, x=rng.random((30, 28, 28, 1), dtype=np.float32) * 0.3)
    np.savez(ev, x=rng.random((30, 28, 28, 1), dtype=np.float32), y=rng.integers(0, 10, 30))
    r = convert(ConvertConfig(example / "model.keras", tmp_path / "o.tflite", calib=calib, eval=ev, max_drop=100))
    assert any("beyond the calibration range" in w for w in r.warnings)


def _keras_model(body):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    return keras.Model(inp, body(inp, keras))


def _warnings_for(model, tmp_path, name):
    path = tmp_path / f"{name}.keras"
    model.save(path)
    calib = tmp_path / f"{name}.npy"
    np.save(calib, np.random.default_rng(1).random((24, 16, 16, 3), dtype=np.float32))
    return convert(ConvertConfig(path, tmp_path / f"{name}.tflite", calib=calib)).warnings


def test_graph_patterns_that_hurt_int8_warn(tmp_path):
    def hard_swish(inp, keras):
        h = keras.layers.Conv2D(8, 3, activation="hard_swish", name="hs_conv")(inp)
        return keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(h))

    def huge_range(inp, keras):  # a pre-activation thousands of times wider than the rest, squashed by tanh
        h = keras.layers.Conv2D(8, 3, name="pre")(inp)
        h = keras.layers.Activation("tanh")(keras.layers.Rescaling(5000.0, name="blowup")(h))
        for i in range(3):
            h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name=f"c{i}")(h)
        return keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(h))

    def big_pool(inp, keras):
        h = keras.layers.Conv2D(8, 1, activation="relu")(inp)
        h = keras.layers.AveragePooling2D(8, name="avg8")(h)
        return keras.layers.Dense(4)(keras.layers.Flatten()(h))

    def plain(inp, keras):
        h = keras.layers.Conv2D(8, 3, activation="relu")(inp)
        return keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(h))

    assert any("HARD_SWISH" in w for w in _warnings_for(_keras_model(hard_swish), tmp_path, "hs"))
    assert any("model's median range" in w for w in _warnings_for(_keras_model(huge_range), tmp_path, "huge"))
    assert any("AVERAGE_POOL_2D 8×8" in w for w in _warnings_for(_keras_model(big_pool), tmp_path, "pool"))
    assert [w for w in _warnings_for(_keras_model(plain), tmp_path, "plain") if "calibration samples" not in w] == []


def test_depthwise_outlier_channel_without_relu6_warns(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 8))
    dw = keras.layers.DepthwiseConv2D(3, name="dw")
    h = dw(inp)
    out = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(h))
    model = keras.Model(inp, out)
    kernel, bias = dw.get_weights()
    kernel[..., 3, 0] *= 200.0  # one channel with outlier weights, as BatchNorm folding can leave behind
    dw.set_weights([kernel, bias])
    path = tmp_path / "dw.keras"
    model.save(path)
    calib = tmp_path / "dw.npy"
    np.save(calib, np.random.default_rng(1).random((24, 16, 16, 8), dtype=np.float32))
    w = convert(ConvertConfig(path, tmp_path / "dw.tflite", calib=calib)).warnings
    assert any("DEPTHWISE_CONV_2D, no ReLU6 bound" in x and "dw" in x for x in w)


def test_non_zero_constant_padding_warns(tmp_path):
    import tensorflow as tf

    class Padded(tf.Module):
        def __init__(self):
            self.k = tf.constant(np.random.default_rng(0).random((3, 3, 3, 4), dtype=np.float32))

        @tf.function(input_signature=[tf.TensorSpec([1, 16, 16, 3], tf.float32, name="x")])
        def __call__(self, x):
            h = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], constant_values=-3.0)
            return tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(h, self.k, 1, "VALID")), axis=[1, 2])

    mod = Padded()
    tf.saved_model.save(mod, str(tmp_path / "sm"), signatures=mod.__call__)
    calib = tmp_path / "c.npy"
    np.save(calib, np.random.default_rng(1).random((16, 16, 16, 3), dtype=np.float32))
    w = convert(ConvertConfig(tmp_path / "sm", tmp_path / "pad.tflite", calib=calib)).warnings
    assert any("PADV2 with constant -3" in x for x in w)
