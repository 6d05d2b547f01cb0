import numpy as np
import pytest
from PIL import Image

from edgelite.calibration.preprocess import PreprocessSpec, load_image, parse_floats, parse_size
from edgelite.core.errors import UnreadableImageError, UserInputError


def test_normalize_matches_formula_per_channel():
    spec = PreprocessSpec(2, 2, color="rgb", mean=(10, 20, 30), std=(2, 4, 5))
    pixels = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 10
    expected = (pixels.astype(np.float32) - [10, 20, 30]) / [2, 4, 5]
    np.testing.assert_allclose(spec.normalize(pixels), expected)


def test_apply_resizes_converts_color_and_keeps_dtype(tmp_path):
    img = Image.new("RGB", (40, 20), (200, 100, 50))
    path = tmp_path / "a.png"
    img.save(path)
    gray = PreprocessSpec(10, 8, color="gray").apply(path)
    assert gray.shape == (10, 8, 1) and gray.dtype == np.float32
    expected_l = round(200 * 299 / 1000 + 100 * 587 / 1000 + 50 * 114 / 1000) / 255.0  # Pillow's ITU-R 601-2 luma
    np.testing.assert_allclose(gray, expected_l, atol=1 / 255)
    bgr = PreprocessSpec(4, 4, color="bgr").apply(img)
    np.testing.assert_allclose(bgr[0, 0], np.array([50, 100, 200]) / 255.0, atol=1e-6)


def test_center_crop_and_nchw_layout():
    arr = np.zeros((10, 10, 3), np.uint8)
    arr[3:7, 3:7] = 255
    spec = PreprocessSpec(4, 4, crop_fraction=0.4, layout="nchw", resize="nearest")
    out = spec.apply(arr)
    assert out.shape == (3, 4, 4)
    assert out.min() == 1.0  # the central 40 % is all white


def test_round_trip_dict():
    spec = PreprocessSpec(224, 224, mean=(123.7, 116.3, 103.5), std=(58.4, 57.1, 57.4), resize="bicubic")
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kwargs, needle", [
    ({"color": "cmyk"}, "color must be"),
    ({"resize": "lanczos9"}, "resize must be"),
    ({"mean": (1, 2)}, "mean needs 1 or 3"),
    ({"std": (0,)}, "non-zero"),
    ({"crop_fraction": 0}, "crop fraction"),
])
def test_bad_spec_values(kwargs, needle):
    with pytest.raises(UserInputError, match=needle):
        PreprocessSpec(8, 8, **kwargs)


def test_unknown_keys_refused():
    with pytest.raises(UserInputError, match="unknown preprocessing keys: zoom"):
        PreprocessSpec.from_dict({"height": 2, "width": 2, "zoom": 2})


def test_unreadable_and_missing_images(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(UnreadableImageError, match="bad.png"):
        load_image(bad)
    with pytest.raises(UserInputError, match="no such image"):
        load_image(tmp_path / "missing.png")


def test_pixel_arrays_must_be_0_255_integers():
    spec = PreprocessSpec(4, 4, color="gray")
    with pytest.raises(UserInputError, match="0–255"):
        spec.apply(np.full((4, 4), 300, np.int32))
    with pytest.raises(UserInputError, match="integers"):
        spec.apply(np.zeros((4, 4), np.float32))


def test_parsers():
    assert parse_size("224x160") == (224, 160)
    assert parse_size("96") == (96, 96)
    assert parse_floats("0.5,1,2", "mean") == (0.5, 1.0, 2.0)
    with pytest.raises(UserInputError, match="HxW"):
        parse_size("0x3")
    with pytest.raises(UserInputError, match="--mean"):
        parse_floats("abc", "mean")
