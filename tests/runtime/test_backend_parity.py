"""The same runtime cases against every installed backend, compared with golden int8 outputs that another
backend, machine or process produced: never a backend against itself in the same process.

In the main venv the backends are litert and tf (tf.lite.Interpreter): each one's raw int8 outputs are
compared with the other's, through saved runs. `make test` also runs this file in a second venv with
tflite-runtime 2.14 and numpy<2 (no TensorFlow, no ai-edge-litert), and the aarch64 check runs it on an
emulated board; both read the models and LiteRT's golden runs that tests/support/parity.py recorded on x86
(EDGELITE_PARITY_DIR).
"""

import os
from pathlib import Path

import numpy as np
import pytest

from edgelite.core.errors import EdgeliteError
from edgelite.runtime import Model, benchmark
from edgelite.runtime.backends import select_backend
from edgelite.runtime.runs import Run, same_samples
from tests.support.parity import SETTINGS, eval_images, golden_path, images_of, raw_run

# The backends this environment must have, named by whoever built it (the Makefile's tflite-runtime venv, the
# aarch64 check); the main venv of `make setup` has LiteRT and TensorFlow. A backend that fails to import is
# a failed test below, never a silently shorter list.
BACKENDS = os.environ.get("EDGELITE_EXPECT_BACKENDS", "litert,tf").split(",")
ALL_BACKENDS = ("litert", "tf", "tflite-runtime")


@pytest.mark.parametrize("name", BACKENDS)
def test_the_expected_backends_are_usable(name):
    assert select_backend(name).name == name


def _usable(name: str) -> bool:
    try:
        select_backend(name)
    except EdgeliteError:   # not installed, or numpy 2 for tflite-runtime: not a golden source here
        return False
    return True


@pytest.fixture(scope="module")
def parity(request, tmp_path_factory) -> dict:
    """Models and golden runs per tested backend: recorded earlier (EDGELITE_PARITY_DIR), else made here by
    another backend than the one under test, saved and loaded back."""
    prebuilt = os.environ.get("EDGELITE_PARITY_DIR")
    if prebuilt:
        d = Path(prebuilt)
        golden = {flag: Run.load(golden_path(d, flag)) for flag in SETTINGS}
        return {"int8": d / "mnist_int8.tflite", "float32": d / "mnist_float32.tflite",
                "images": images_of(golden["on"]), "golden": dict.fromkeys(BACKENDS, golden)}
    models = request.getfixturevalue("example_models")
    images = eval_images()
    usable = [b for b in ALL_BACKENDS if _usable(b)]
    folder = tmp_path_factory.mktemp("golden")
    golden = {}
    for backend in BACKENDS:
        other = next((b for b in usable if b != backend), None)
        if other is None:
            pytest.fail(f"only {backend} is installed, so nothing else can produce its golden outputs: record them "
                        "with `python -m tests.support.parity build/parity` in a venv with LiteRT and run with "
                        "EDGELITE_PARITY_DIR=build/parity")
        golden[backend] = {}
        for flag in SETTINGS:
            path = folder / f"{other}.xnnpack_{flag}.npz"
            raw_run(Model.load(models["int8"], backend=other, xnnpack=flag == "on"), images).save(path)
            golden[backend][flag] = Run.load(path)
    return {**models, "images": images, "golden": golden}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xnnpack", SETTINGS)
def test_int8_outputs_match_golden(parity, backend, xnnpack):
    want = parity["golden"][backend][xnnpack]
    assert want.origin.endswith(".npz")   # a saved run: another process, backend or machine made it
    m = Model.load(parity["int8"], backend=backend, xnnpack=xnnpack == "on")
    assert m.backend.name == backend
    got = raw_run(m, parity["images"])
    same_samples(want, got)
    assert got.description["backend"] != want.description["backend"] or os.environ.get("EDGELITE_PARITY_DIR"), \
        "a backend must not be its own golden in one process"
    (w,), (g,) = want.outputs.values(), got.outputs.values()
    assert w.dtype == g.dtype == np.int8 and w.shape == g.shape == (len(parity["images"]), 10)
    diff = np.abs(g.astype(np.int16) - w.astype(np.int16))
    # Measured on x86_64: litert and tf byte-identical in both settings; tflite-runtime identical to LiteRT
    # without XNNPACK and 1 LSB off in 1 of 500 values "with" it (its int8 path does not use XNNPACK, and
    # LiteRT's own XNNPACK-on vs -off outputs differ by exactly that).
    assert diff.max() <= 1, (backend, xnnpack, int(diff.max()))
    assert np.mean(g.argmax(1) == w.argmax(1)) >= 0.98


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
