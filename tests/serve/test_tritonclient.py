"""The real client: NVIDIA's ``tritonclient[http]`` against ``edgelite serve`` over a socket, JSON and binary
tensors; results equal ``Model.run`` bit for bit."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.serve.conftest import serving


@pytest.fixture(scope="module")
def repo(tmp_path_factory, example_models):
    root = tmp_path_factory.mktemp("repo")
    for name, key in (("digits", "int8"), ("digits_f32", "float32")):
        (root / name / "1").mkdir(parents=True)
        shutil.copy(example_models[key], root / name / "1" / "model.tflite")
    return root


def test_tritonclient_metadata_and_infer_bit_for_bit(repo, example):
    import tritonclient.http as httpclient

    from edgelite.calibration import collect, open_source
    from edgelite.runtime import Model

    q_model = Model.load(repo / "digits" / "1" / "model.tflite")
    f_model = Model.load(repo / "digits_f32" / "1" / "model.tflite")
    x = collect(open_source(example / "eval"), q_model.spec, q_model.sample_shape, 4, 0).x
    with serving(repo) as server:
        client = httpclient.InferenceServerClient(url=f"127.0.0.1:{server.port}")
        assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("digits")
        meta = client.get_model_metadata("digits")
        (inp,), (out,) = meta["inputs"], meta["outputs"]
        assert inp["datatype"] == "INT8" and out["datatype"] == "FP32"
        for model, name in ((q_model, "digits"), (f_model, "digits_f32")):
            for sample in x:
                want = model.run(sample[None])[model.outputs[0].name]
                for binary in (True, False):
                    t = httpclient.InferInput(model.input.name, [1, *sample.shape], "FP32")
                    t.set_data_from_numpy(sample[None].astype(np.float32), binary_data=binary)
                    outputs = [httpclient.InferRequestedOutput(model.outputs[0].name, binary_data=binary)]
                    for requested in (outputs, None):   # None: all outputs, binary by default
                        result = client.infer(name, [t], outputs=requested)
                        got = result.as_numpy(model.outputs[0].name)
                        np.testing.assert_array_equal(got, want)
            # raw int8 data for the quantized model passes as it is
        raw = httpclient.InferInput(q_model.input.name, [1, *x[0].shape], "INT8")
        raw.set_data_from_numpy(q_model.input.quantize(x[0][None]))
        got = client.infer("digits", [raw]).as_numpy(q_model.outputs[0].name)
        np.testing.assert_array_equal(got, q_model.run(x[0][None])[q_model.outputs[0].name])
        from tritonclient.utils import InferenceServerException

        bad = httpclient.InferInput(q_model.input.name, [1, 3], "FP32")
        bad.set_data_from_numpy(np.zeros((1, 3), np.float32))
        with pytest.raises(InferenceServerException, match="shape"):
            client.infer("digits", [bad])
        client.close()
    assert server.proc.returncode == 0, server.stderr
