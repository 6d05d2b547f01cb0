"""Converted files keep the source's input/output names and order; the float reference runs every input and
output (issue 26): a two-input, two-head Keras model and its SavedModel, a single-input model, int8 rewritten."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.converter import ConvertConfig, convert, io_names
from edgelite.converter.loading import load_source
from edgelite.converter.reference import TFReference
from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, tflite_file
from edgelite.runtime.inspection import inspect_model
from edgelite.runtime.runs import output_names

pytestmark = pytest.mark.slow

IMG, META = (16, 16, 3), (4,)


def _feeds(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, *IMG), dtype=np.float32), rng.normal(size=(n, *META)).astype(np.float32)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """Inputs img (16,16,3), meta (4,); outputs cls (5, softmax), box (4,): its .keras file, SavedModel, model."""
    import keras

    keras.utils.set_random_seed(0)
    img = keras.Input(IMG, name="img")
    meta = keras.Input(META, name="meta")
    h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu")(img))
    h = keras.layers.Concatenate()([h, keras.layers.Dense(8, activation="relu")(meta)])
    model = keras.Model([img, meta], [keras.layers.Dense(5, activation="softmax", name="cls")(h),
                                      keras.layers.Dense(4, name="box")(h)])
    root = tmp_path_factory.mktemp("two")
    model.save(root / "two.keras")
    model.export(str(root / "two_sm"), verbose=False)
    return root / "two.keras", root / "two_sm", model


def _keras_outputs(model, xi: np.ndarray, xm: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(o) for o in model([xi, xm], training=False)]


def _tf_float_bytes(saved_model) -> bytes:
    import tensorflow as tf

    return bytes(tf.lite.TFLiteConverter.from_saved_model(str(saved_model)).convert())


@pytest.fixture(scope="module")
def two_float32(two, tmp_path_factory):
    out = tmp_path_factory.mktemp("two_f32") / "two.tflite"
    convert(ConvertConfig(two[0], out, mode="float32"))
    return out


def _names(m: Model) -> tuple[list[str], list[str]]:
    return [t.name for t in m.inputs], [t.name for t in m.outputs]


def test_keras_float32_keeps_order_names_and_values(two, two_float32, run_cli):
    m = Model.load(two_float32)
    assert _names(m) == (["img", "meta"], ["cls", "box"])
    assert [t.shape for t in m.outputs] == [(1, 5), (1, 4)]
    xi, xm = _feeds(3)
    want = _keras_outputs(two[2], xi, xm)
    for k in range(3):
        got = m.run({"img": xi[k:k + 1], "meta": xm[k:k + 1]})
        assert list(got) == ["cls", "box"]
        np.testing.assert_allclose(got["cls"], want[0][k:k + 1], atol=1e-5)
        np.testing.assert_allclose(got["box"], want[1][k:k + 1], atol=1e-5)
    # the signature runner still works, its outputs keyed by the source's names
    by_sig = m.run({"img": xi[:1], "meta": xm[:1]}, signature="serving_default")
    assert set(by_sig) == {"cls", "box"}
    np.testing.assert_allclose(by_sig["cls"], want[0][:1], atol=1e-5)
    np.testing.assert_allclose(by_sig["box"], want[1][:1], atol=1e-5)
    # edgelite's own readers: the flatbuffer reader, inspection, the CLI
    data = two_float32.read_bytes()
    tflite_file.check_tflite_bytes(data, two_float32)
    written = {t.name for op in tflite_file.op_inventory(data) for t in op.outputs}
    assert {"cls", "box"} <= written and "edgelite" in tflite_file.metadata_entries(data)
    seen = inspect_model(m)
    assert [t.name for t in seen.inputs] == ["img", "meta"] and [t.name for t in seen.outputs] == ["cls", "box"]
    code, out, _ = run_cli("inspect", two_float32)
    rows = [line.split()[:2] for line in out.splitlines() if line.startswith(("input ", "output "))]
    assert code == 0 and rows == [["input", "img"], ["input", "meta"], ["output", "cls"], ["output", "box"]]


def test_saved_model_float32_keeps_signature_keys(two, tmp_path):
    out = tmp_path / "sm.tflite"
    convert(ConvertConfig(two[1], out, mode="float32"))
    m = Model.load(out)
    # a SavedModel signature's keys have no order of their own: sorted; Keras' export named the heads output_k
    assert _names(m) == (["img", "meta"], ["output_0", "output_1"])
    xi, xm = _feeds(2, seed=1)
    want = _keras_outputs(two[2], xi, xm)
    got = m.run({"img": xi[:1], "meta": xm[:1]})
    np.testing.assert_allclose(got["output_0"], want[0][:1], atol=1e-5)
    np.testing.assert_allclose(got["output_1"], want[1][:1], atol=1e-5)


def test_rewrite_changes_nothing_but_names_and_order_float32(two):
    raw = _tf_float_bytes(two[1])
    before = Model.from_bytes(raw, "raw.tflite")
    # what the rewrite is for: TF's own file has another order and its own names (if TF ever keeps the source's,
    # this test no longer shows anything and should be revisited)
    assert _names(before) != (["img", "meta"], ["cls", "box"])
    fixed = io_names.apply(raw, ["img", "meta"], ["cls", "box"])
    after = Model.from_bytes(fixed, "fixed.tflite")
    assert _names(after) == (["img", "meta"], ["cls", "box"])
    assert io_names.apply(fixed, ["img", "meta"], ["cls", "box"]) == fixed   # idempotent
    xi, xm = _feeds(1, seed=2)
    old = before.run({"img": xi, "meta": xm}, signature="serving_default")
    new = after.run({"img": xi, "meta": xm}, signature="serving_default")
    np.testing.assert_array_equal(new["cls"], old["output_0"])
    np.testing.assert_array_equal(new["box"], old["output_1"])
    # names the signature does not have leave the file as TF wrote it
    assert io_names.apply(raw, ["image"], ["cls", "box"]) == raw
    assert io_names.apply(raw, ["img", "meta"], ["cls"]) == raw


def test_rewrite_of_an_int8_file(two):
    """int8 with int8 I/O, made by TF's converter from dict samples: same integers out, by the source's names."""
    import tensorflow as tf

    xi, xm = _feeds(8, seed=3)
    conv = tf.lite.TFLiteConverter.from_saved_model(str(two[1]))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ({"img": xi[k:k + 1], "meta": xm[k:k + 1]} for k in range(8))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    raw = bytes(conv.convert())
    fixed = io_names.apply(raw, ["img", "meta"], ["cls", "box"])
    before, after = Model.from_bytes(raw, "raw.tflite"), Model.from_bytes(fixed, "fixed.tflite")
    assert after.quantized and _names(after) == (["img", "meta"], ["cls", "box"])
    assert [t.dtype for t in after.inputs] == [np.int8, np.int8]
    want = _keras_outputs(two[2], xi, xm)
    for k in range(3):
        new = after.run({"img": xi[k:k + 1], "meta": xm[k:k + 1]})
        old = before.run({"img": xi[k:k + 1], "meta": xm[k:k + 1]}, signature="serving_default")   # TF's keys
        np.testing.assert_array_equal(new["cls"], old["output_0"])
        np.testing.assert_array_equal(new["box"], old["output_1"])
        # and they are the heads they say they are (int8 error is a few output steps)
        np.testing.assert_allclose(new["cls"], want[0][k:k + 1], atol=0.05)
        np.testing.assert_allclose(new["box"], want[1][k:k + 1], atol=0.1 * np.abs(want[1]).max() + 0.05)


def test_single_input_model_float32_and_int8(keras3_file, rgb_images, tmp_path):
    """The conftest model (input ``image``, output layer ``probability``): names change, values do not."""
    from edgelite.converter.calibrated import Calibrated

    f32, int8 = tmp_path / "f32.tflite", tmp_path / "int8.tflite"
    convert(ConvertConfig(keras3_file, f32, mode="float32"))
    convert(ConvertConfig(keras3_file, int8, calib=rgb_images, samples=8))
    from edgelite.calibration import collect, open_source

    m = Model.load(int8)
    x = collect(open_source(rgb_images), m.spec, m.sample_shape, 8, 0).x   # the data it was calibrated on
    with load_source(keras3_file) as src:
        ref = TFReference(src)
        want = np.concatenate([ref.run_one(s)[0] for s in x])
        # the float model compare/analyze judge int8 against, and the int8 variants, carry the names too
        cal = Calibrated(src, ConvertConfig(keras3_file, tmp_path / "c.tflite", calib=rgb_images), x)
        for data in (cal.float_model(), cal.quantize(), cal.quantize(cal.candidates[-1:])):
            assert _names(Model.from_bytes(data, "cal.tflite")) == (["image"], ["probability"])
    for path, atol in ((f32, 1e-5), (int8, 0.02)):
        m = Model.load(path)
        assert _names(m) == (["image"], ["probability"])
        np.testing.assert_allclose(m.predict(x), want, atol=atol)


def test_tf_reference_runs_every_input_and_output(two):
    xi, xm = _feeds(2, seed=5)
    want = _keras_outputs(two[2], xi, xm)
    for source, names in ((two[0], ["cls", "box"]), (two[1], ["output_0", "output_1"])):
        with load_source(source) as src:
            assert src.input_names == ("img", "meta") and src.output_names == tuple(names)
            assert src.output_shapes == ((None, 5), (None, 4)) and src.output_shape == (None, 5)
            ref = TFReference(src)
            for k in range(2):
                cls, box = ref.run_one((xi[k], xm[k]))
                np.testing.assert_allclose(cls, want[0][k:k + 1], atol=1e-5)
                np.testing.assert_allclose(box, want[1][k:k + 1], atol=1e-5)
            described = ref.describe()
            assert [(t["name"], t["shape"], t["shape_signature"]) for t in described["outputs"]] == \
                [(names[0], [1, 5], [-1, 5]), (names[1], [1, 4], [-1, 4])]
            assert [(t["name"], t["shape"]) for t in described["inputs"]] == [("img", [1, 16, 16, 3]), ("meta", [1, 4])]
            assert output_names(ref, 2) == names
            with pytest.raises(UserInputError, match="2 input"):
                ref.run_one(xi[0])


def test_keras_reference_and_converted_file_name_outputs_alike(two, two_float32, keras3_file, rgb_images, tmp_path):
    """What compare pairs: a Keras reference run and a converted file's run, by name."""
    from edgelite.runtime.comparisons import match
    from edgelite.runtime.runs import run_samples

    with load_source(two[0]) as src:
        assert output_names(TFReference(src), 2) == output_names(Model.load(two_float32), 2) == ["cls", "box"]
    out = tmp_path / "one.tflite"
    convert(ConvertConfig(keras3_file, out, calib=rgb_images, samples=8))
    x = np.random.default_rng(6).random((3, 8, 8, 3), dtype=np.float32)
    with load_source(keras3_file) as src:
        ref_run = run_samples(TFReference(src), x)
    cand_run = run_samples(Model.load(out), x)
    assert list(ref_run.outputs) == list(cand_run.outputs) == ["probability"]
    assert match(ref_run, cand_run).pairs == [("probability", "probability")]


def test_output_names_of_dict_sequential_and_repeated_outputs(tmp_path):
    """Dict outputs are named by their keys (what the model returns and its signature says), Sequential by its
    last layer, one tensor output twice gets unique names; a dict-output file maps by those keys."""
    import keras

    from edgelite.converter.loading import _keras_input_output

    a = keras.Input((4,), name="a")
    by_key = keras.Model(a, {"zeta": keras.layers.Dense(2, name="z")(a), "alpha": keras.layers.Dense(3, name="al")(a)})
    io = _keras_input_output(by_key)
    order = [tuple(t.shape) for t in by_key.outputs]
    assert dict(zip(io.output_names, order, strict=True)) == {"zeta": (None, 2), "alpha": (None, 3)}
    assert io.output_shapes == tuple(order)
    seq = keras.Sequential([keras.Input((4,), name="x"), keras.layers.Dense(3, name="last")])
    assert _keras_input_output(seq).output_names == ("last",) and _keras_input_output(seq).input_names == ("x",)
    d = keras.layers.Dense(2, name="same")(a)
    assert _keras_input_output(keras.Model(a, [d, d])).output_names == ("same", "same_1")

    by_key.export(str(tmp_path / "dict_sm"), verbose=False)
    fixed = io_names.apply(_tf_float_bytes(tmp_path / "dict_sm"), io.input_names, io.output_names)
    m = Model.from_bytes(fixed, "dict.tflite")
    assert _names(m) == (["a"], list(io.output_names))
    x = np.random.default_rng(7).normal(size=(1, 4)).astype(np.float32)
    want = by_key(x, training=False)
    for name in ("zeta", "alpha"):
        np.testing.assert_allclose(m.run(x)[name], np.asarray(want[name]), atol=1e-5)


def test_a_source_name_taken_by_another_tensor_leaves_the_file_alone(two):
    """Renaming an output to a name an inner tensor already has would make name lookups ambiguous."""
    raw = _tf_float_bytes(two[1])
    inner = next(t.name for op in tflite_file.op_inventory(raw) for t in op.outputs
                 if t.name not in {x.name for x in Model.from_bytes(raw, "raw.tflite").outputs})
    assert io_names.apply(raw, ["img", "meta"], [inner, "box"]) == raw
