"""Every user mistake through the CLI: exit code 2, one line naming the thing and the fix, no traceback."""

import numpy as np
import pytest

from edgelite.converter import metadata_writer
from edgelite.runtime import tflite_file


def assert_user_error(result, *needles):
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("edgelite: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, example):
    d = tmp_path_factory.mktemp("bad")
    (d / "empty").mkdir()
    (d / "unreadable").mkdir()
    for i in range(3):
        (d / "unreadable" / f"{i}.png").write_bytes(b"garbage")
    np.save(d / "wrong_shape.npy", np.zeros((4, 32, 32, 3), np.float32))
    nan = np.zeros((4, 28, 28, 1), np.float32)
    nan[1, 0, 0, 0] = np.nan
    np.save(d / "nan.npy", nan)
    obj = np.empty(1, dtype=object)
    obj[0] = {"x": 1}
    np.save(d / "pickled.npy", obj, allow_pickle=True)
    (d / "notes.tflite").write_text("definitely not a flatbuffer")
    (d / "labels3.txt").write_text("a\nb\nc\n")
    return d


def test_convert_missing_model(run_cli, tmp_path):
    assert_user_error(run_cli("convert", tmp_path / "nope.keras", "-o", tmp_path / "o.tflite", "--calib", tmp_path),
                      "nope.keras", "no such model")


def test_convert_missing_calib(run_cli, example, tmp_path):
    assert_user_error(run_cli("convert", example / "model.keras", "-o", tmp_path / "o.tflite",
                              "--calib", tmp_path / "nowhere"), "nowhere", "calibration data not found")


def test_convert_without_calib_in_int8(run_cli, example, tmp_path):
    assert_user_error(run_cli("convert", example / "model.keras", "-o", tmp_path / "o.tflite"), "--calib")


@pytest.mark.slow
@pytest.mark.parametrize("calib, needles", [
    ("empty", ("empty", "no images found")),
    ("unreadable", ("unreadable", "none of the 3 image(s) could be read")),
    ("wrong_shape.npy", ("wrong_shape.npy", "(32, 32, 3)", "(28, 28, 1)")),
    ("nan.npy", ("nan.npy", "NaN or Inf")),
    ("pickled.npy", ("pickled.npy", "without unpickling")),
])
def test_convert_bad_calibration_data(run_cli, example, bad_files, tmp_path, calib, needles):
    out = tmp_path / "o.tflite"
    assert_user_error(run_cli("convert", example / "model.keras", "-o", out, "--calib", bad_files / calib), *needles)
    assert not out.exists()


@pytest.mark.slow
def test_convert_channel_mismatch(run_cli, example, tmp_path):
    assert_user_error(run_cli("convert", example / "model.keras", "-o", tmp_path / "o.tflite",
                              "--calib", example / "calib", "--color", "rgb"), "1 channel(s)", "--color gray")


@pytest.mark.slow
def test_convert_labels_count_mismatch(run_cli, example, bad_files, tmp_path):
    assert_user_error(run_cli("convert", example / "model.keras", "-o", tmp_path / "o.tflite", "--mode", "float32",
                              "--labels", bad_files / "labels3.txt"), "labels3.txt", "3 labels", "one label per class")


@pytest.mark.parametrize("flags, needles", [
    (("--mode", "int4"), ("--mode", "invalid choice")),
    (("--samples", "0"), ("--samples must be ≥ 1",)),
    (("--samples", "many"), ("--samples", "invalid int")),
    (("--mean", "abc"), ("--mean takes numbers",)),
    (("--input-size", "0x3"), ("--input-size takes HxW",)),
    (("--mode", "float16", "--io", "int8"), ("--io int8 needs --mode int8",)),
    (("--mode", "int16x8", "--io", "uint8"), ("int16x8 supports only --io float32",)),
    (("--labels", "/no/such/labels.txt"), ("labels.txt", "labels file not found")),
])
def test_convert_bad_flags(run_cli, example, tmp_path, flags, needles):
    assert_user_error(run_cli("convert", example / "model.keras", "-o", tmp_path / "o.tflite",
                              "--calib", example / "calib", *flags), *needles)


def test_convert_bad_outputs(run_cli, example, tmp_path):
    base = ("convert", example / "model.keras", "--mode", "float32")
    assert_user_error(run_cli(*base, "-o", tmp_path / "missing" / "o.tflite"), "does not exist", "create it")
    assert_user_error(run_cli(*base, "-o", tmp_path / "o.bin"), "o.bin", "must end in .tflite")


@pytest.mark.slow
def test_conversion_error_is_one_line_and_keeps_old_output(run_cli, sin_saved_model, float_calib_npy, tmp_path):
    out = tmp_path / "o.tflite"
    out.write_bytes(b"previous good model")
    assert_user_error(run_cli("convert", sin_saved_model, "-o", out, "--calib", float_calib_npy),
                      "SIN", "--allow-float-ops")
    assert out.read_bytes() == b"previous good model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tflite"]  # no temp files left behind


def test_run_on_bad_models(run_cli, bad_files, example, example_models, tmp_path):
    image = next((example / "eval" / "1").glob("*.png"))
    assert_user_error(run_cli("run", bad_files / "notes.tflite", image), "notes.tflite", "not a TFLite model")
    data = example_models["int8"].read_bytes()
    half = tmp_path / "half.tflite"
    half.write_bytes(data[: len(data) // 3])
    assert_user_error(run_cli("run", half, image), "half.tflite")
    assert_user_error(run_cli("run", tmp_path / "none.tflite", image), "none.tflite", "no such file")


def test_run_bad_inputs(run_cli, bad_files, example_models, tmp_path):
    m = example_models["int8"]
    assert_user_error(run_cli("run", m, tmp_path / "missing.png"), "missing.png", "no such input")
    assert_user_error(run_cli("run", m, bad_files / "unreadable" / "0.png"), "0.png", "not a readable image")
    assert_user_error(run_cli("run", m, bad_files / "wrong_shape.npy"), "does not fit the model input")
    assert_user_error(run_cli("run", m, bad_files / "pickled.npy"), "pickled.npy", "without unpickling")
    assert_user_error(run_cli("run", m, bad_files / "labels3.txt", "--top-k", "0"), "--top-k")


def test_run_image_on_model_without_spec(run_cli, example, example_models, tmp_path):
    data = example_models["int8"].read_bytes()
    bare = tmp_path / "bare.tflite"
    bare.write_bytes(metadata_writer.with_metadata(data, {}, remove=tflite_file.metadata_entries(data)))
    image = next((example / "eval" / "1").glob("*.png"))
    assert_user_error(run_cli("run", bare, image), "bare.tflite", "no preprocessing metadata", "--input-size")
    code, out, _ = run_cli("run", bare, image, "--input-size", "28x28", "--color", "gray")
    assert code == 0 and "input" in out


def test_compare_swapped_and_bad_data(run_cli, example, example_models, tmp_path):
    f32, int8 = example_models["float32"], example_models["int8"]
    assert_user_error(run_cli("compare", int8, f32, "--data", example / "eval"), "REFERENCE comes first")
    wrong = tmp_path / "animals" / "cat"
    wrong.mkdir(parents=True)
    for p in list((example / "eval" / "1").glob("*.png"))[:2]:
        (wrong / p.name).write_bytes(p.read_bytes())
    assert_user_error(run_cli("compare", f32, int8, "--data", tmp_path / "animals"), "cat",
                      "not among the model's labels")
    assert_user_error(run_cli("compare", f32, int8, "--data", example / "eval", "--samples", "0"), "--samples")


def test_bench_bad_flags(run_cli, example_models):
    m = example_models["int8"]
    assert_user_error(run_cli("bench", m, "--threads", "0"), "--threads")
    assert_user_error(run_cli("bench", m, "--threads", "two"), "--threads")
    assert_user_error(run_cli("bench", m, "--runs", "0"), "--runs")


def test_unknown_command_and_missing_args(run_cli):
    assert_user_error(run_cli("deploy"), "invalid choice")
    assert_user_error(run_cli("run"), "required")


def test_bad_source_date_epoch(run_cli, example, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert_user_error(run_cli("convert", example / "model.keras", "-o", tmp_path / "o.tflite", "--mode", "float32"),
                      "SOURCE_DATE_EPOCH")


def test_delegate_flags(run_cli, example_models, tmp_path, example):
    image = next((example / "eval" / "2").glob("*.png"))
    assert_user_error(run_cli("run", example_models["int8"], image, "--delegate", tmp_path / "libedgetpu.so.1"),
                      "libedgetpu.so.1", "delegate library not found")
    assert_user_error(run_cli("bench", example_models["int8"], "--delegate-option", "device=usb"),
                      "--delegate-option needs a --delegate")
    assert_user_error(run_cli("compare", example_models["float32"], example_models["int8"], "--data",
                              example / "eval", "--delegate", tmp_path / "x.so"), "x.so")


def test_npy_declaring_a_negative_shape(run_cli, example_models, tmp_path):
    """Issue 24 #9: a header that says (-1, 28, 28, 1) reached np.memmap and came out as exit 3 (OverflowError)."""
    from ..calibration.test_arrays import npy_bytes

    bad = tmp_path / "minus.npy"
    bad.write_bytes(npy_bytes((-1, 28, 28, 1), body=b"\0" * 4 * 28 * 28 * 4))
    f32, int8 = example_models["float32"], example_models["int8"]
    assert_user_error(run_cli("run", int8, bad), "minus.npy", "negative", "np.save")
    assert_user_error(run_cli("compare", f32, int8, "--data", bad), "minus.npy", "negative", "np.save")
