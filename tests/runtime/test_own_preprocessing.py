"""``compare`` feeds each model the preprocessing its own file says. A candidate whose file says the wrong input
range must look wrong — before, both models got the candidate's spec, so the wrong range hid behind equally
wrong reference inputs."""

from __future__ import annotations

import dataclasses
import json

import pytest

from edgelite.converter.metadata_writer import embed
from edgelite.runtime import Model
from edgelite.runtime.compare import compare_on, spec_differences


@pytest.fixture(scope="module")
def wrongly_normalised(example_models, tmp_path_factory):
    """The example's int8 file with a spec that says [-1, 1] inputs (the model was trained and calibrated on
    [0, 1]): what a conversion with the wrong --mean/--std writes."""
    good = Model.load(example_models["int8"])
    wrong = dataclasses.replace(good.spec, mean=(127.5,), std=(127.5,))
    path = tmp_path_factory.mktemp("wrong") / "mnist_int8_wrong.tflite"
    path.write_bytes(embed(good.content, spec=wrong, labels=good.labels, provenance={}))
    return path


def test_each_model_gets_its_own_spec_and_the_difference_is_said(example_models, example, wrongly_normalised):
    ref = Model.load(example_models["float32"])
    cand = Model.load(wrongly_normalised)
    own = compare_on(ref, cand, example / "eval", samples=200)
    # the old way: the candidate's (wrong) spec fed to both models
    shared = compare_on(ref, cand, example / "eval", samples=200, reference_spec=cand.spec)
    good = compare_on(ref, Model.load(example_models["int8"]), example / "eval", samples=200)
    assert any("preprocess differently" in w and "mean (0.0,) vs (127.5,)" in w for w in own.warnings)
    assert not any("preprocess differently" in w for w in shared.warnings + good.warnings)
    # with its own inputs the reference keeps its accuracy, whatever the candidate's file says; the old way fed
    # it the candidate's [-1, 1] inputs and its top-1 fell (measured 7–9 points on 200 digits), which made the
    # int8 file look better than float (a negative drop)
    assert own.reference.top1 == good.reference.top1
    assert shared.reference.top1 < good.reference.top1 - 3
    assert own.top1_drop_pts > shared.top1_drop_pts
    # the candidate is fed its own spec either way
    assert own.candidate.top1 == shared.candidate.top1


def test_cli_flags_describe_a_keras_reference(example, example_models, run_cli, tmp_path):
    # a Keras reference has no spec of its own: --mean/--std say what it takes; the candidate keeps its file's
    code, _, err = run_cli("compare", example / "model.keras", example_models["int8"], "--data", example / "eval",
                           "--samples", 50, "--mean", "127.5", "--std", "127.5", "--json", tmp_path / "c.json")
    assert code == 0, err
    warnings = json.loads((tmp_path / "c.json").read_text())["warnings"]
    assert any("preprocess differently" in w for w in warnings)


def test_spec_differences_name_each_field(example_models):
    spec = Model.load(example_models["int8"]).spec
    other = dataclasses.replace(spec, std=(127.5,), resize="nearest")
    found = spec_differences(spec, other)
    assert any(f.startswith("std ") for f in found) and any(f.startswith("resize ") for f in found)
    assert spec_differences(spec, spec) == [] and spec_differences(None, spec) == []
