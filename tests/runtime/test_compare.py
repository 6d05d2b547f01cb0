"""Comparisons: expectations come from hand-built runs whose answers are known by construction, or from labels
chosen so that the answer is known, never from the code's own formulas."""

import dataclasses

import numpy as np
import pytest

from edgelite.calibration import collect, open_source
from edgelite.core.errors import UserInputError
from edgelite.runtime import CompareReport, Model, compare
from edgelite.runtime.compare import compare_runs, output_error
from edgelite.runtime.comparisons import METRICS, match, metric
from edgelite.runtime.runs import Run, run_samples

DESCRIPTION = {"path": "ref.tflite", "kind": "tflite", "size_bytes": 1000, "backend": "litert",
               "backend_version": "0"}


def one_hot(pred, classes) -> np.ndarray:
    """Scores whose argmax is ``pred`` (the winner 0.7, the rest share 0.3)."""
    out = np.full((len(pred), classes), 0.3 / (classes - 1), np.float32)
    out[np.arange(len(pred)), pred] = 0.7
    return out


def make_run(scores, *, y=None, ids=None, times=None, name="probability", path="ref.tflite", **kw) -> Run:
    n = len(scores)
    return Run(outputs={name: np.asarray(scores, np.float32)},
               ids=tuple(ids or (f"s{i}" for i in range(n))),
               times_s=np.asarray(times if times is not None else [0.001] * n, np.float64),
               description={**DESCRIPTION, "path": path}, labels=None if y is None else np.asarray(y), **kw)


# 10 samples of 4 classes. The reference misses sample 9 (says 0, truth 1); the candidate misses sample 8
# (says 1, truth 0) and sample 9 (says 2): top-1 90 % vs 80 %, agreement 8/10, one discordant pair
# (reference right and candidate wrong: sample 8), none the other way.
Y = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
REF_PRED = [0, 1, 2, 3, 0, 1, 2, 3, 0, 0]
CAND_PRED = [0, 1, 2, 3, 0, 1, 2, 3, 1, 2]


def test_output_error_on_hand_worked_values():
    ref = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    cand = np.array([[0.9, 0.1, 0.0], [0.0, 0.0, 2.0]])
    e = output_error(ref, cand)
    assert e.cosine_mean == pytest.approx(0.496942, abs=1e-6)  # (0.9 / √0.82 + 0) / 2
    assert e.snr_db == pytest.approx(-2.052, abs=1e-3)         # signal 5, noise 0.01 + 0.01 + 4 + 4
    assert e.max_abs_error == pytest.approx(2.0)
    assert output_error(ref, ref).snr_db is None
    # integer outputs are compared as numbers, not wrapped int8 differences (127 − (−128) is 255)
    assert output_error(np.array([[127]], np.int8), np.array([[-128]], np.int8)).max_abs_error == 255.0


def test_classify_figures_on_hand_built_runs():
    ref = make_run(one_hot(REF_PRED, 4), y=Y, times=[0.001, 0.003, 0.002] + [0.002] * 7)
    cand = make_run(one_hot(CAND_PRED, 4), y=Y, path="cand.tflite")
    r = compare_runs(ref, cand, class_names=["zero", "one", "two", "three"])
    assert r.samples == 10 and r.labelled
    assert r.reference.top1 == 90.0 and r.candidate.top1 == 80.0 and r.top1_drop_pts == 10.0
    assert r.reference.top5 is None and r.top5_drop_pts is None          # 4 classes: no top-5
    assert r.agreement == 0.8
    assert r.discordant == {"reference_only": 1, "candidate_only": 0}
    assert r.mcnemar_p == 1.0                                            # 1 vs 0 discordant: 2 · ½
    c = r.classes
    assert c.names == ["zero", "one", "two", "three"] and c.support == [3, 3, 2, 2]
    assert c.reference == [100.0, pytest.approx(66.6667), 100.0, 100.0]
    assert c.candidate == [pytest.approx(66.6667), pytest.approx(66.6667), 100.0, 100.0]
    assert c.confusion == [[2, 1, 0, 0], [0, 2, 1, 0], [0, 0, 2, 0], [0, 0, 0, 2]]
    assert r.reference.latency_ms.median == 2.0 and r.reference.latency_ms.min == 1.0   # the recorded times
    assert r.output_errors[0].name == "probability" and r.cosine_mean == r.output_errors[0].cosine_mean


def test_top5_counts_a_true_class_ranked_fifth_and_not_sixth():
    scores = np.array([[0.30, 0.25, 0.20, 0.15, 0.06, 0.04], [0.30, 0.25, 0.20, 0.15, 0.06, 0.04]], np.float32)
    ref, cand = make_run(scores, y=[4, 5]), make_run(scores, y=[4, 5], path="cand.tflite")
    r = compare_runs(ref, cand)
    assert r.reference.top5 == 50.0 and r.reference.top1 == 0.0      # class 4 is 5th, class 5 is 6th


def test_unlabelled_runs_give_agreement_only():
    r = compare_runs(make_run(one_hot(REF_PRED, 4)), make_run(one_hot(CAND_PRED, 4), path="cand.tflite"))
    assert not r.labelled and r.reference.top1 is None and r.classes is None and r.mcnemar_p is None
    assert r.agreement == 0.8 and r.top1_drop_pts is None


def test_outputs_pair_by_name_else_by_position():
    a = np.eye(3, dtype=np.float32)
    b = np.ones((3, 2), np.float32)
    two = {"scores": a, "boxes": b}
    ref = dataclasses.replace(make_run(a), outputs=two)
    same_names = dataclasses.replace(make_run(a), outputs={"boxes": b, "scores": a})
    assert match(ref, same_names).pairs == [("scores", "scores"), ("boxes", "boxes")]
    renamed = dataclasses.replace(make_run(a), outputs={"out:0": a, "out:1": b * 2})
    m = match(ref, renamed)
    assert m.pairs == [("scores", "out:0"), ("boxes", "out:1")]
    errs = metric("tensor error")(m).outputs
    assert [e.name for e in errs] == ["scores", "boxes"]
    assert errs[0].snr_db is None and errs[1].max_abs_error == 1.0
    report = compare_runs(ref, renamed)
    assert len(report.output_errors) == 2 and report.snr_db is None      # top-level figures: the first output


def test_runs_over_other_samples_are_refused():
    ref = make_run(one_hot(REF_PRED, 4))
    with pytest.raises(UserInputError, match="not over the same samples: sample 3 is 's3' in one and 'x'"):
        compare_runs(ref, make_run(one_hot(REF_PRED, 4), ids=["s0", "s1", "s2", "x", *[f"s{i}" for i in range(4, 10)]]))
    with pytest.raises(UserInputError, match="has 10 samples but .* has 9"):
        compare_runs(ref, make_run(one_hot(REF_PRED[:9], 4)))
    with pytest.raises(UserInputError, match="different labels"):
        compare_runs(make_run(one_hot(REF_PRED, 4), y=Y), make_run(one_hot(REF_PRED, 4), y=REF_PRED))
    with pytest.raises(UserInputError, match="outputs differ in shape"):
        compare_runs(ref, make_run(one_hot(REF_PRED, 5)))
    with pytest.raises(UserInputError, match="labels run from 0 to 3 but the models have 3 outputs"):
        compare_runs(make_run(one_hot([0, 1, 2, 2], 3), y=[0, 1, 2, 3], ids=list("abcd")),
                     make_run(one_hot([0, 1, 2, 2], 3), ids=list("abcd")))


def test_the_registry_names_the_built_in_metrics():
    assert {"classify", "tensor error"} <= set(METRICS)
    with pytest.raises(UserInputError, match="unknown metric 'boxes'; choose one of classify"):
        metric("boxes")


def test_compare_example_int8_vs_float_with_labels_known_by_construction(example_models, example):
    ref, cand = Model.load(example_models["float32"]), Model.load(example_models["int8"])
    data = collect(open_source(example / "eval", class_names=cand.labels), cand.spec, cand.sample_shape, 200, 0)
    # The labels are the reference's own answers: its top-1 is 100 % by construction, and the candidate's top-1
    # is then exactly its agreement with the reference.
    y = ref.predict(data.x).argmax(1)
    r = compare(ref, cand, data.x, y, candidate_is_int8=True)
    assert r.samples == 200 and r.labelled
    assert r.reference.top1 == 100.0 and r.discordant["candidate_only"] == 0
    assert r.candidate.top1 == pytest.approx(r.agreement * 100, abs=1e-4)
    assert r.top1_drop_pts == pytest.approx(100.0 - r.candidate.top1, abs=1e-4)
    assert r.agreement >= 0.95                                       # int8 of the example keeps its answers
    assert r.candidate.size_bytes < 0.35 * r.reference.size_bytes
    assert CompareReport.from_json(r.to_json()) == r


def test_compare_of_saved_runs_equals_compare_of_the_models(example_models, example, tmp_path):
    ref, cand = Model.load(example_models["float32"]), Model.load(example_models["int8"])
    data = collect(open_source(example / "eval", class_names=cand.labels), cand.spec, cand.sample_shape, 60, 1)
    ids = [str(i) for i in data.indices]
    live = [run_samples(m, data.x, ids, labels=data.y, class_names=cand.labels) for m in (ref, cand)]
    for run, name in zip(live, ("ref.npz", "cand.npz"), strict=True):
        run.save(tmp_path / name)
    saved = [Run.load(tmp_path / name) for name in ("ref.npz", "cand.npz")]
    from_live, from_files = compare_runs(*live), compare_runs(*saved)
    assert from_files == from_live
    # and the same figures as compare() running the models (latency apart: another run)
    direct = compare(ref, cand, data.x, data.y, class_names=cand.labels)
    for key in ("agreement", "cosine_mean", "snr_db", "max_abs_error", "top1_drop_pts", "mcnemar_p", "classes"):
        assert getattr(direct, key) == getattr(from_files, key), key
    assert direct.candidate.top1 == from_files.candidate.top1 and direct.reference.inputs == from_files.reference.inputs


def test_compare_model_with_itself_is_exact(example_models):
    m = Model.load(example_models["int8"])
    x = np.random.default_rng(0).random((5, 28, 28, 1), dtype=np.float32)
    r = compare(m, m, x)
    assert r.agreement == 1.0 and r.snr_db is None and r.max_abs_error == 0.0 and r.top1_drop_pts is None
    assert r.warnings == []      # compare() without candidate_is_int8 never warns about latency


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


def test_saved_runs_report_the_machine_they_ran_on():
    board = {"cpu_model": "Cortex-A76", "cores": 4, "arch": "aarch64", "simd": ["asimd", "asimddp"],
             "os": "Linux 6.6", "python": "3.11.2"}
    slow = [0.002] * 10
    ref = make_run(one_hot(REF_PRED, 4), device=board)
    cand = make_run(one_hot(REF_PRED, 4), path="cand.tflite", times=slow, device=board, quantized=True)
    r = compare_runs(ref, cand)
    assert r.device.cpu_model == "Cortex-A76" and r.device.arch == "aarch64"
    (w,) = r.warnings   # 2x slower int8, judged with the board's flags (dotprod), not this machine's
    assert "on the machine of the runs (aarch64, Cortex-A76)" in w and "check threads and XNNPACK" in w
    elsewhere = dataclasses.replace(ref, device={**board, "cpu_model": "EPYC", "arch": "x86_64"})
    (w,) = compare_runs(elsewhere, cand).warnings
    assert "recorded on different machines (x86_64, EPYC vs aarch64, Cortex-A76)" in w
