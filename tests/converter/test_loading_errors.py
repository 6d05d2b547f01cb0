"""Bad source models: refused before anything runs, with the file named and the fix said."""

import zipfile

import pytest

from edgelite.converter import ConvertConfig, convert
from edgelite.converter.loading import load_source
from edgelite.core.errors import UserInputError

pytestmark = pytest.mark.slow


def _lambda_model():
    import keras

    inp = keras.Input((4,))
    out = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    return keras.Model(inp, out)


def test_keras_lambda_refused_by_safe_mode(tmp_path):
    path = tmp_path / "lam.keras"
    _lambda_model().save(path)
    with pytest.raises(UserInputError, match="lam.keras: Keras 3 cannot load it.*(safe|unsafe|Lambda)"):
        with load_source(path):
            pass


def test_h5_lambda_refused_before_loading(tmp_path):
    import tf_keras

    inp = tf_keras.Input((4,))
    model = tf_keras.Model(inp, tf_keras.layers.Lambda(lambda t: t * 2.0)(inp))
    path = tmp_path / "lam.h5"
    model.save(path)
    with pytest.raises(UserInputError, match="lam.h5: has a Lambda layer.*unsafe"):
        with load_source(path):
            pass


def test_weights_only_and_corrupt_files(tmp_path, keras3_file):
    import h5py

    weights = tmp_path / "w.h5"
    with h5py.File(weights, "w") as f:
        f.create_dataset("kernel", data=[1.0, 2.0])
    with pytest.raises(UserInputError, match="no model_config"):
        with load_source(weights):
            pass
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"this is not a zip")
    with pytest.raises(UserInputError, match="junk.keras: Keras 3 cannot load it"):
        with load_source(junk):
            pass
    notes = tmp_path / "model.caffemodel"   # (.onnx is named: tests/converter/test_source_kinds.py)
    notes.write_bytes(b"x")
    with pytest.raises(UserInputError, match="unknown model type '.caffemodel'"):
        with load_source(notes):
            pass
    (tmp_path / "emptydir").mkdir()
    with pytest.raises(UserInputError, match="no saved_model.pb"):
        with load_source(tmp_path / "emptydir"):
            pass


def test_inputs_are_never_modified(keras3_file, rgb_images, tmp_path):
    before = keras3_file.read_bytes()
    images = {p.name: p.read_bytes() for p in rgb_images.iterdir()}
    convert(ConvertConfig(keras3_file, tmp_path / "m.tflite", calib=rgb_images, samples=4))
    assert keras3_file.read_bytes() == before
    assert {p.name: p.read_bytes() for p in rgb_images.iterdir()} == images
    assert zipfile.is_zipfile(keras3_file)


def test_dynamic_input_size_needs_flag(tmp_path, rgb_images):
    import keras

    inp = keras.Input((None, None, 3))
    out = keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(
        keras.layers.Conv2D(2, 3)(inp)))
    path = tmp_path / "dyn.keras"
    keras.Model(inp, out).save(path)
    with pytest.raises(UserInputError, match="input size is dynamic.*--input-size"):
        convert(ConvertConfig(path, tmp_path / "m.tflite", calib=rgb_images, samples=4))
    report = convert(ConvertConfig(path, tmp_path / "m.tflite", calib=rgb_images, samples=4, input_size=(16, 12)))
    assert report.spec.height == 16 and report.spec.width == 12
    from edgelite.runtime import Model

    m = Model.load(tmp_path / "m.tflite")  # dynamic H/W: resized to the embedded spec before allocation
    assert m.input.shape == (1, 16, 12, 3)
    assert m.predict(next(rgb_images.iterdir())).shape == (1, 2)


def _edited_keras(source, target, edit):
    """A copy of the .keras zip ``source`` with its config.json edited by ``edit``."""
    import json

    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    return target


@pytest.mark.parametrize("name, edit", [
    ("no_layers", lambda c: c["config"].pop("layers")),                              # KeyError inside Keras
    ("bad_module", lambda c: c.update(module={"a": 1})),                             # AttributeError
    ("unknown_class", lambda c: c.update(class_name="Nope")),                        # TypeError
    ("no_input", lambda c: c["config"]["input_layers"].append(["x", 0, 0])),         # IndexError / RuntimeError
])
def test_a_mangled_keras_config_is_a_user_error_naming_the_file(tmp_path, keras3_file, name, edit):
    path = _edited_keras(keras3_file, tmp_path / f"{name}.keras", edit)
    with pytest.raises(UserInputError, match=f"{name}.keras: Keras 3 cannot load it"):
        with load_source(path):
            pass


def test_a_truncated_saved_model_is_a_user_error(tmp_path, saved_model_dir):
    import shutil

    copy = tmp_path / "sm"
    shutil.copytree(saved_model_dir, copy)
    for data in (copy / "variables").glob("variables.data-*"):
        data.write_bytes(data.read_bytes()[:10])
    with pytest.raises(UserInputError, match="TensorFlow cannot load this SavedModel"):
        with load_source(copy):
            pass


def test_a_failure_that_is_not_the_files_fault_is_not_called_a_user_error(keras3_file, monkeypatch, run_cli,
                                                                              tmp_path):
    """An assertion (a bug) or running out of memory inside the loader is not a bad file: it goes up as what
    it is, and the CLI reports it as an internal error (exit 3), not a user error (exit 2)."""
    import keras

    def broken(*args, **kwargs):
        raise AssertionError("edgelite bug")

    monkeypatch.setattr(keras.saving, "load_model", broken)
    with pytest.raises(AssertionError, match="edgelite bug"):
        with load_source(keras3_file):
            pass
    code, _, err = run_cli("convert", keras3_file, "-o", tmp_path / "m.tflite", "--mode", "float32")
    assert code == 3 and "internal error (AssertionError: edgelite bug)" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and "rerun with -v to print it here" in err
    import re
    from pathlib import Path

    Path(re.search(r"traceback \((.+)\)$", err.strip()).group(1)).unlink()   # the traceback file it names
