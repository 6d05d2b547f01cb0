"""Data for multi-input models: one array (or folder) per input, matched to the model's inputs by name or
position, with one-line errors naming the input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgelite.calibration import Inputs, InputSlot, bind, collect, from_arrays, open_source
from edgelite.calibration.multi_input import match_inputs
from edgelite.calibration.preprocess import PreprocessSpec
from edgelite.calibration.sources import from_generator
from edgelite.core.errors import UserInputError

RNG = np.random.default_rng(7)
SLOTS = (InputSlot("img", (8, 8, 3)), InputSlot("meta", (4,)))


def _arrays(n: int = 12) -> dict[str, np.ndarray]:
    return {"img": RNG.random((n, 8, 8, 3), dtype=np.float32), "meta": RNG.random((n, 4), dtype=np.float32)}


def test_npz_by_input_name_keeps_rows_together(tmp_path):
    a = _arrays()
    y = np.arange(12) % 3
    # stored in the other order: binding follows the model's inputs, not the file's
    np.savez(tmp_path / "d.npz", meta=a["meta"], img=a["img"], y=y)
    got = collect(bind(open_source(tmp_path / "d.npz"), SLOTS), None, (), 5, seed=1)
    assert isinstance(got.x, Inputs) and got.x.names == ("img", "meta")
    for k, i in enumerate(got.indices):   # row i of every input (and its label) stays one sample
        np.testing.assert_array_equal(got.x.arrays[0][k], a["img"][i])
        np.testing.assert_array_equal(got.x.arrays[1][k], a["meta"][i])
        assert got.y[k] == y[i]


def test_positional_keys_and_tuples_follow_input_order():
    a = _arrays()
    for source in (from_arrays({"x0": a["img"], "x1": a["meta"]}), from_arrays((a["img"], a["meta"]))):
        got = collect(bind(source, SLOTS), None, (), None, seed=0, shuffle=False)
        np.testing.assert_array_equal(got.x.arrays[1], a["meta"])


def test_generator_of_dicts_and_tuples():
    a = _arrays(6)
    dicts = from_generator(lambda: ({"meta": a["meta"][i], "img": a["img"][i]} for i in range(6)), limit=4)
    tuples = from_generator(((a["img"][i], a["meta"][i]) for i in range(6)), limit=4)
    for source in (dicts, tuples):
        got = collect(bind(source, SLOTS), None, (), None, seed=0, shuffle=False)
        assert len(got.x) == 4
        np.testing.assert_array_equal(got.x.arrays[0], a["img"][:4])


def test_image_folder_for_one_input_arrays_for_the_other(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(5):
        Image.fromarray(RNG.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    np.save(tmp_path / "meta.npy", RNG.random((5, 4), dtype=np.float32))
    spec = PreprocessSpec(height=8, width=8, color="rgb", mean=(0.0,), std=(255.0,))
    slots = (InputSlot("img", (8, 8, 3), spec), InputSlot("meta", (4,)))
    source = bind(open_source({"img": photos, "meta": tmp_path / "meta.npy"}), slots)
    got = collect(source, None, (), None, seed=0, shuffle=False)
    assert got.x.arrays[0].shape == (5, 8, 8, 3) and got.x.arrays[0].min() >= 0.0 and got.x.arrays[0].max() <= 1.0
    # the image part names the samples (sample ids are image paths)
    assert source.kind == "images" and len(source.items) == 5


@pytest.mark.parametrize(("arrays", "message"), [
    ({"img": np.zeros((4, 8, 8, 3), np.float32), "mta": np.zeros((4, 4), np.float32)}, r"'mta' is no input.*img, meta"),
    ({"img": np.zeros((4, 8, 8, 3), np.float32)}, r"no data for input 'meta'"),
    ({"img": np.zeros((4, 8, 8, 3), np.float32), "meta": np.zeros((3, 4), np.float32)},
     r"different numbers of samples \(img: 4, meta: 3\)"),
    ({"img": np.zeros((4, 8, 8, 3), np.float32), "meta": np.zeros((4, 5), np.float32)},
     r"input 'meta' takes samples of shape \(4,\)"),
    ({"x0": np.zeros((4, 8, 8, 3), np.float32), "x2": np.zeros((4, 4), np.float32)}, r"'x2' is no input.*x0…x1"),
])
def test_bad_parts_are_one_line_errors_naming_the_input(arrays, message):
    with pytest.raises(UserInputError, match=message) as err:
        bind(from_arrays(arrays), SLOTS)
    assert "\n" not in str(err.value)


def test_one_array_for_a_two_input_model_says_how_to_give_two(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 8, 8, 3), np.float32))
    with pytest.raises(UserInputError, match=r"2 inputs \(img, meta\).*one array per input"):
        bind(open_source(tmp_path / "x.npy"), SLOTS)


def test_ragged_tuple_is_not_a_numpy_error():
    # before: np.asarray on arrays of different shapes raised numpy's own ValueError
    source = from_arrays((np.zeros((3, 2), np.float32), np.zeros((3, 4, 4), np.float32)))
    with pytest.raises(UserInputError, match="input 'img' takes samples of shape"):
        bind(source, SLOTS)


def test_tensor_names_of_a_converted_file_match_signature_keys():
    tensors = ["serving_default_meta:0", "serving_default_img:0"]
    assert match_inputs(tensors, ["img", "meta"]) == [1, 0]
    assert match_inputs(tensors, ["x0", "x1"]) == [0, 1]   # no name matches: by position
    with pytest.raises(UserInputError, match="do not match them one to one"):
        match_inputs(tensors, ["img", "other"])
    # names that fit no input are never fed by position (another converter's input_1/input_2, reversed)
    with pytest.raises(UserInputError, match="do not match"):
        match_inputs(["input_1", "input_2"], ["b", "a"])


def test_a_tuple_of_same_shaped_arrays_is_one_array_per_input():
    # two image inputs of one shape: a tuple is per input, never stacked into (2, N, ...)
    a, b = RNG.random((5, 8, 8, 3), dtype=np.float32), RNG.random((5, 8, 8, 3), dtype=np.float32)
    slots = (InputSlot("left", (8, 8, 3)), InputSlot("right", (8, 8, 3)))
    got = collect(bind(from_arrays((a, b)), slots), None, (), None, seed=0, shuffle=False)
    np.testing.assert_array_equal(got.x.arrays[1], b)
    # a list of samples keeps its old meaning
    assert len(from_arrays([a[0], a[1]])) == 2
