"""The same runtime cases against every installed backend, compared with LiteRT's int8 outputs.

In the main venv the backends are litert and tf (tf.lite.Interpreter); `make test` also runs this file in a
second venv with tflite-runtime 2.14 and numpy<2 (no TensorFlow, no ai-edge-litert), reading the models and
golden outputs written by tests/support/parity.py (EDGELITE_PARITY_DIR).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from edgelite.runtime import Model, benchmark
from edgelite.runtime.backends import select_backend
from tests.support.parity import ROOT as REPO
from tests.support.parity import eval_images, raw_outputs

# The backends this environment must have, named by whoever built it (the Makefile's tflite-runtime venv, the
# aarch64 check); the main venv of `make setup` has LiteRT and TensorFlow. A backend that fails to import is
# a failed test below, never a silently shorter list.
BACKENDS = os.environ.get("EDGELITE_EXPECT_BACKENDS", "litert,tf").split(",")


@pytest.mark.parametrize("name", BACKENDS)
def test_the_expected_backends_are_usable(name):
    assert select_backend(name).name == name


@pytest.fixture(scope="module")
def parity(request) -> dict:
    """Models and golden raw int8 outputs: prebuilt (EDGELITE_PARITY_DIR) or made here with LiteRT."""
    prebuilt = os.environ.get("EDGELITE_PARITY_DIR")
    if prebuilt:
        d = Path(prebuilt)
        golden = dict(np.load(d / "golden.npz", allow_pickle=False))
        return {"int8": d / "mnist_int8.tflite", "float32": d / "mnist_float32.tflite",
                "images": [REPO / p for p in golden.pop("images")], "golden": golden}
    models = request.getfixturevalue("example_models")
    images = eval_images()
    golden = {f"int8_xnnpack_{flag}": raw_outputs(Model.load(models["int8"], backend="litert",
                                                             xnnpack=flag == "on"), images)
              for flag in ("on", "off")}
    return {**models, "images": images, "golden": golden}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xnnpack", ["on", "off"])
def test_int8_outputs_match_litert(parity, backend, xnnpack):
    m = Model.load(parity["int8"], backend=backend, xnnpack=xnnpack == "on")
    assert m.backend.name == backend
    got = raw_outputs(m, parity["images"])
    want = parity["golden"][f"int8_xnnpack_{xnnpack}"]
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    # Measured on x86_64: litert and tf byte-identical in both settings; tflite-runtime identical to LiteRT
    # without XNNPACK and 1 LSB off in 1 of 500 values "with" it (its int8 path does not use XNNPACK, and
    # LiteRT's own XNNPACK-on vs -off outputs differ by exactly that).
    assert diff.max() <= 1, (backend, xnnpack, int(diff.max()))
    assert np.mean(got.argmax(1) == want.argmax(1)) >= 0.98


@pytest.mark.parametrize("backend", BACKENDS)
def test_metadata_classify_and_float_model(parity, backend):
    m = Model.load(parity["int8"], backend=backend)
    assert m.labels == tuple(str(i) for i in range(10)) and m.spec.color == "gray"
    right = sum(m.classify(p, 1)[0][0] == p.parent.name for p in parity["images"])
    assert right >= 0.94 * len(parity["images"])
    f = Model.load(parity["float32"], backend=backend, threads=2)
    np.testing.assert_allclose(f.predict(parity["images"][:5]), Model.load(parity["float32"], backend=backend,
                                                                          xnnpack=False).predict(parity["images"][:5]),
                               atol=1e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_by_name_and_bench(parity, backend):
    m = Model.load(parity["int8"], backend=backend)
    out = m.run(np.zeros((3, 28, 28, 1), np.float32))
    assert next(iter(out.values())).shape == (3, 10)
    r = benchmark(parity["int8"], backend=backend, runs=5, warmup=1, xnnpack=(True, False))
    assert r.backend == backend and len(r.results) == 2
