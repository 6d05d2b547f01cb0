"""`edgelite run` shows every output by name: top-k for class scores, a summary for tensors (issue 26). The runs
are built by hand, so what each output holds is known; the real two-output file is in
tests/runtime/test_every_output.py."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from edgelite.cli import render
from edgelite.cli.run_command import _run_results
from edgelite.runtime.runs import Run

DESCRIPTION = {"path": "m.tflite", "kind": "tflite", "size_bytes": 1, "backend": "litert", "backend_version": "0"}


def model(labels=None, file_labels=None, dtypes=("int8", "float32"), names=("cls", "box")):
    """What `run`'s printing reads of a Model: labels fitting the first output, the file's labels, output types."""
    outputs = [SimpleNamespace(name=n, dtype=np.dtype(d)) for n, d in zip(names, dtypes, strict=False)]
    return SimpleNamespace(labels=labels, metadata=SimpleNamespace(labels=file_labels), outputs=outputs)


def two_head() -> Run:
    cls = np.array([[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]], np.float32)          # winners 1, then 0
    box = np.array([[0.5, 2.0, 30.0, 40.0], [1.0, 1.0, 1.0, 1.0]], np.float32)
    return Run(outputs={"cls": cls, "box": box}, ids=("a.png", "b.png"), times_s=np.array([0.002, 0.004]),
               description=DESCRIPTION)


def test_two_heads_give_top_k_for_the_class_head_and_values_for_the_box():
    results = _run_results(model(), two_head(), 2)
    a, b = results
    assert [t["index"] for t in a["top_k"]] == [1, 2] and [t["index"] for t in b["top_k"]] == [0, 1]
    assert a["outputs"]["cls"]["kind"] == "class scores" and a["outputs"]["cls"]["top_k"] == a["top_k"]
    box = a["outputs"]["box"]
    assert box["kind"] == "tensor" and box["shape"] == [4] and box["dtype"] == "float32"
    assert (box["min"], box["max"], box["mean"]) == (0.5, 40.0, 18.125) and box["values"] == [0.5, 2.0, 30.0, 40.0]
    assert json.loads(json.dumps(results)) == results                      # plain JSON
    text = render.run_table(results)
    rows = text.splitlines()[2:]
    assert rows[0].split()[:3] == ["a.png", "cls", "top-k"] and "1 0.700, 2 0.200" in rows[0]
    assert rows[1].split()[0] == "box" and "4 float32: 0.5, 2, 30, 40" in rows[1]   # few values: all shown
    assert rows[2].startswith("b.png") and "0 0.600" in rows[2]


def test_labels_of_the_file_name_the_class_head():
    results = _run_results(model(labels=("cat", "dog", "owl")), two_head(), 1)
    assert results[0]["top_k"][0]["label"] == "dog" and results[1]["top_k"][0]["label"] == "cat"


def test_a_lone_output_keeps_the_old_table_even_without_probabilities():
    logits = np.array([[-1.0, 3.0, 0.5]], np.float32)                      # not a probability vector
    run = Run(outputs={"logits": logits}, ids=("x.npy",), times_s=np.array([0.001]), description=DESCRIPTION)
    results = _run_results(model(names=("logits",)), run, 2)
    assert [t["index"] for t in results[0]["top_k"]] == [1, 2]
    assert render.run_table(results).splitlines()[0].split() == ["input", "top-k", "(label", "score)", "invoke"]


def test_two_tensor_outputs_have_no_top_k_and_long_ones_are_summarized():
    points = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    presence = np.array([[4.5], [-1.0]], np.float32)
    run = Run(outputs={"points": points, "presence": presence}, ids=("a", "b"), times_s=np.array([0.001, 0.001]),
              description=DESCRIPTION)
    results = _run_results(model(names=("points", "presence"), dtypes=("int8", "int8")), run, 3)
    assert all("top_k" not in r for r in results)
    text = render.run_table(results)
    assert "10 int8: min 0, max 9, mean 4.5; 0, 1, 2, 3, …" in text and "1 int8: 4.5" in text
    assert "1 int8: -1" in text and "top-k 0" not in text
