"""Model.run: names, batch > 1 by resizing on demand, signature runners, missing custom ops."""

import numpy as np
import pytest

from edgelite.converter import metadata_writer
from edgelite.core.errors import UserInputError
from edgelite.runtime import Model, tflite_file


def test_batch_resized_on_demand_matches_one_by_one(example_models):
    m = Model.load(example_models["int8"])
    x = np.random.default_rng(0).random((6, 28, 28, 1), dtype=np.float32)
    (name, batched), = m.run(x).items()
    assert batched.shape == (6, 10) and m.input.shape == (6, 28, 28, 1)
    one_by_one = m.predict(x)  # run_one goes back to batch 1 by itself
    assert m.input.shape == (1, 28, 28, 1)
    np.testing.assert_allclose(batched, one_by_one, atol=m.outputs[0].scale)


def test_raw_int8_inputs_pass_unchanged(example_models):
    m = Model.load(example_models["int8"])
    x = np.random.default_rng(1).random((1, 28, 28, 1), dtype=np.float32)
    q = m.input.quantize(x)
    np.testing.assert_array_equal(m.run(x)[m.outputs[0].name], m.run(q)[m.outputs[0].name])


def test_signature_runner(example_models):
    m = Model.load(example_models["int8"])
    assert m.signatures == ["serving_default"]
    x = np.random.default_rng(2).random((1, 28, 28, 1), dtype=np.float32)
    by_sig = m.run({"image": x}, signature="serving_default")
    (sig_out,) = by_sig.values()
    np.testing.assert_array_equal(sig_out, m.predict(x))


def _with_custom_op(data: bytes, victim: str, custom_name: str) -> bytes:
    """Turn every ``victim`` op into a CUSTOM op the runtime does not know."""
    s = metadata_writer.schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    code = s.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CUSTOM
    code.customCode = custom_name.encode()
    model.operatorCodes.append(code)
    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    for op in model.subgraphs[0].operators:
        oc = model.operatorCodes[op.opcodeIndex]
        if names.get(max(oc.builtinCode, oc.deprecatedBuiltinCode)) == victim:
            op.opcodeIndex = len(model.operatorCodes) - 1
            op.builtinOptionsType, op.builtinOptions = 0, None
    import flatbuffers

    b = flatbuffers.Builder(0)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_missing_custom_op_is_named(example_models, tmp_path):
    path = tmp_path / "custom.tflite"
    path.write_bytes(_with_custom_op(example_models["float32"].read_bytes(), "SOFTMAX", "EdgeliteTestSoftmax"))
    assert "CUSTOM:EdgeliteTestSoftmax" in {op.op_type for op in tflite_file.op_inventory(path.read_bytes())}
    m = Model.load(path)  # LiteRT resolves custom ops lazily: the error comes at the first invoke
    with pytest.raises(UserInputError, match="custom op\\(s\\) EdgeliteTestSoftmax are not available in litert"):
        m.predict(np.zeros((1, 28, 28, 1), np.float32))


def test_one_model_shared_by_threads_gives_sequential_results(example_models):
    """Shared use is serialized by the model's lock: same answers as one thread, no interleaved tensors."""
    from concurrent.futures import ThreadPoolExecutor

    m = Model.load(example_models["int8"])
    xs = [np.random.default_rng(k).random((1, 28, 28, 1), dtype=np.float32) for k in range(64)]
    expected = [m.predict(x) for x in xs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(m.predict, xs))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)


@pytest.mark.slow
def test_two_input_model_by_name(tmp_path):
    """A real two-input Keras model, converted by edgelite (float32), run by tensor name."""
    import keras

    from edgelite.converter import ConvertConfig, convert

    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    out = keras.layers.Dense(2, name="head")(keras.layers.Concatenate()([a, b * 2.0]))
    model = keras.Model([a, b], out)
    src, dst = tmp_path / "two.keras", tmp_path / "two.tflite"
    model.save(src)
    convert(ConvertConfig(src, dst, mode="float32"))
    m = Model.load(dst)
    names = sorted(t.name for t in m.inputs)
    assert len(names) == 2 and m.spec is None
    xa, xb = np.ones((1, 4), np.float32), np.full((1, 3), 0.5, np.float32)
    by_shape = {t.name: (xa if t.shape == (1, 4) else xb) for t in m.inputs}
    (got,) = m.run(by_shape).values()
    np.testing.assert_allclose(got, model.predict([xa, xb], verbose=0), rtol=1e-5, atol=1e-5)
    with pytest.raises(UserInputError, match="has 2 inputs"):
        m.run(xa)
    with pytest.raises(UserInputError, match=r"has 2 inputs \(a, b\); pass \{name: array\}"):
        m.predict(xa)
    # predict takes one array per input by name (a one-output model: its array)
    np.testing.assert_array_equal(m.predict({"b": xb, "a": xa}), got)
