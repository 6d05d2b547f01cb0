import numpy as np
import pytest
from PIL import Image

from edgelite.calibration import InputSlot, bind, collect, from_arrays, from_generator, open_source
from edgelite.core.errors import UserInputError
from edgelite.runtime import PreprocessSpec

GRAY28 = PreprocessSpec(28, 28, color="gray")


def test_labelled_folder_with_label_matching(example):
    labels = tuple(str(i) for i in range(10))
    src = open_source(example / "eval", class_names=labels)
    assert src.kind == "images" and len(src) == 500 and src.class_names == labels
    first = src.items[0]
    assert src.labels[0] == int(first.parent.name)
    # folder order differs from the labels file: indices follow the labels, not sorted folder names
    rev = tuple(reversed(labels))
    src_rev = open_source(example / "eval", class_names=rev)
    assert src_rev.labels[0] == rev.index(first.parent.name)


def test_flat_folder_is_unlabelled(example):
    src = open_source(example / "calib")
    assert src.labels is None and len(src) == 300


def test_folder_errors(tmp_path, example):
    with pytest.raises(UserInputError, match="no such file or folder"):
        open_source(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="no images found"):
        open_source(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    (mixed / "cat").mkdir(parents=True)
    Image.new("L", (4, 4)).save(mixed / "cat" / "a.png")
    Image.new("L", (4, 4)).save(mixed / "b.png")
    with pytest.raises(UserInputError, match="both images and class folders"):
        open_source(mixed)
    with pytest.raises(UserInputError, match="not among the model's labels"):
        open_source(example / "eval", class_names=("cat", "dog"))


def test_unreadable_images_are_skipped_and_counted(tmp_path, example):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted((example / "calib").glob("*.png"))[:5]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.png").write_bytes(b"\x89PNG garbage")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    got = collect(open_source(folder), GRAY28, (28, 28, 1), None, 0)
    assert len(got.x) == 5 and len(got.skipped) == 1 and got.skipped[0].endswith("broken.png")


def test_only_unreadable_images_is_an_error(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.jpg").write_bytes(b"nope")
    with pytest.raises(UserInputError, match="none of the 3 image"):
        collect(open_source(folder), GRAY28, (28, 28, 1), 10, 0)


def test_npy_pixels_and_floats(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (6, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "p.npy", pixels)
    got = collect(open_source(tmp_path / "p.npy"), GRAY28, (28, 28, 1), None, 0, shuffle=False)
    np.testing.assert_allclose(got.x[..., 0], pixels / 255.0, atol=1e-6)
    floats = np.random.default_rng(1).random((4, 28, 28, 1), dtype=np.float32) * 3
    np.save(tmp_path / "f.npy", floats)
    got = collect(open_source(tmp_path / "f.npy"), GRAY28, (28, 28, 1), None, 0, shuffle=False)
    np.testing.assert_array_equal(got.x, floats)  # model-ready: not normalised again


def test_npz_with_labels_and_errors(tmp_path):
    x = np.zeros((4, 28, 28, 1), np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.array([0, 1, 1, 0]))
    src = open_source(tmp_path / "d.npz")
    assert list(src.labels) == [0, 1, 1, 0]
    np.savez(tmp_path / "nox.npz", images=x)
    # an array named neither x nor after the model's input: refused when matched to the model
    with pytest.raises(UserInputError, match=r"'images' is no input of the model \(inputs are image;.*named x"):
        bind(open_source(tmp_path / "nox.npz"), [InputSlot("image", (28, 28, 1))])
    # named after the input: taken
    assert len(bind(open_source(tmp_path / "nox.npz"), [InputSlot("images", (28, 28, 1))])) == 4
    np.savez(tmp_path / "bady.npz", x=x, y=np.array([0.5, 1, 1, 0]))
    with pytest.raises(UserInputError, match="y must be integer"):
        open_source(tmp_path / "bady.npz")


def test_pickled_arrays_are_never_loaded(tmp_path):
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = {"a": 1}, [2]
    np.save(tmp_path / "obj.npy", obj, allow_pickle=True)
    with pytest.raises(UserInputError, match="without unpickling"):
        open_source(tmp_path / "obj.npy")
    np.savez(tmp_path / "obj.npz", x=obj)
    with pytest.raises(UserInputError, match="without unpickling"):
        open_source(tmp_path / "obj.npz")


def test_nan_inf_and_shape_errors(tmp_path):
    x = np.zeros((5, 28, 28, 1), np.float32)
    x[2, 0, 0, 0] = np.nan
    x[4, 1, 1, 0] = np.inf
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(UserInputError, match="2 sample\\(s\\) contain NaN or Inf"):
        open_source(tmp_path / "nan.npy")
    np.save(tmp_path / "wrong.npy", np.zeros((3, 32, 32, 3), np.float32))
    with pytest.raises(UserInputError, match="shape \\(32, 32, 3\\) but the model expects \\(28, 28, 1\\)"):
        collect(open_source(tmp_path / "wrong.npy"), GRAY28, (28, 28, 1), None, 0)
    (tmp_path / "data.csv").write_text("1,2,3")
    with pytest.raises(UserInputError, match="unsupported data file"):
        open_source(tmp_path / "data.csv")


def test_generator_and_arrays():
    def gen():
        for i in range(100):
            yield np.full((28, 28, 1), i / 100, np.float32)

    src = from_generator(gen, limit=7)
    assert src.kind == "floats" and len(src) == 7
    src2 = from_arrays(np.zeros((3, 28, 28), np.uint8), [0, 1, 2])
    assert src2.kind == "pixels" and list(src2.labels) == [0, 1, 2]
    with pytest.raises(UserInputError, match="no samples"):
        from_generator(iter(()), limit=3)
