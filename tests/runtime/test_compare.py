import numpy as np
import pytest

from edgelite.calibration import collect, open_source
from edgelite.core.errors import UserInputError
from edgelite.runtime import CompareReport, Model, compare
from edgelite.runtime.compare import output_error


def test_output_error_on_hand_worked_values():
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    cand = np.array([[0.9, 0.1, 0.0], [0.0, 0.0, 2.0]])
    e = output_error(ref, cand)
    assert e["agreement"] == 0.5                                  # row 1 agrees, row 2 does not
    assert e["cosine_mean"] == pytest.approx(0.496942, abs=1e-6)  # (0.9 / √0.82 + 0) / 2
    assert e["snr_db"] == pytest.approx(-2.052, abs=1e-3)         # signal 5, noise 0.01 + 0.01 + 4 + 4
    assert e["max_abs_error"] == pytest.approx(2.0)
    assert output_error(ref, ref)["snr_db"] is None


def test_compare_example_int8_vs_float(example_models, example):
    ref, cand = Model.load(example_models["float32"]), Model.load(example_models["int8"])
    data = collect(open_source(example / "eval", class_names=cand.labels), cand.spec, cand.sample_shape, None, 0,
                   shuffle=False)
    r = compare(ref, cand, data.x, data.y, candidate_is_int8=True)
    assert r.samples == 500 and r.labelled
    expected_top1 = float(np.mean(ref.predict(data.x).argmax(1) == data.y) * 100)
    assert r.reference.top1 == pytest.approx(expected_top1)
    assert r.top1_drop_pts == pytest.approx(r.reference.top1 - r.candidate.top1)
    assert r.reference.top5 is not None  # 10 classes
    assert r.candidate.size_bytes < 0.35 * r.reference.size_bytes
    assert CompareReport.from_json(r.to_json()) == r


def test_compare_model_with_itself_is_exact(example_models):
    m = Model.load(example_models["int8"])
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    r = compare(m, m, x)
    assert r.agreement == 1.0 and r.snr_db is None and r.max_abs_error == 0.0 and r.top1_drop_pts is None


def test_compare_needs_samples(example_models):
    m = Model.load(example_models["int8"])
    with pytest.raises(UserInputError, match="no evaluation samples"):
        compare(m, m, np.zeros((0, 28, 28, 1), np.float32))


def test_from_json_refuses_other_kinds_and_versions(example_models):
    m = Model.load(example_models["int8"])
    r = compare(m, m, np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(UserInputError, match="schema_version"):
        CompareReport.from_json(r.to_json().replace('"schema_version": 2', '"schema_version": 0'))
    with pytest.raises(UserInputError, match="not a compare report"):
        CompareReport.from_json('{"kind": "bench"}')
