"""Distillation: train a student to match a teacher's outputs on unlabelled inputs (Hinton et al., 2015).

Used twice: ``qat --distill`` (the student is the model under quantization-aware training, the teacher the
same model in float — users without labels can fine-tune the int8 model towards the float one) and
``distill`` (a smaller Keras model learns from a bigger one).

Loss per batch: T² · KL(softmax(t / T) ‖ softmax(s / T)) with t, s the teacher's and student's logits and T the
temperature (T² keeps the gradient scale independent of T); with labels, ``hard_weight`` × cross-entropy on
them is added. A model that ends in softmax gives probabilities, not logits: their logarithm is used (the
logits up to a per-sample constant, which softmax ignores).

Light augmentation, so the student matches the teacher around the images and not only on them: a random
shift of up to 10 % of height and width (edges repeated) and a contrast change of up to ±10 % about each
image's mean. No flips: digits, text and faces in a fixed pose change meaning when mirrored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

SHIFT = 0.10       # largest shift, as a share of height and width
CONTRAST = 0.10    # largest contrast change about the image mean
EPS = 1e-7         # probabilities are clipped here before the logarithm


def augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A shifted, contrast-jittered copy of the batch ``x`` (N, H, W, C); non-image inputs are returned as
    they are."""
    if x.ndim != 4:
        return x
    n, h, w, _ = x.shape
    dy, dx = max(1, int(round(h * SHIFT))), max(1, int(round(w * SHIFT)))
    padded: Any = np.pad(x, ((0, 0), (dy, dy), (dx, dx), (0, 0)), mode="edge")
    out = np.empty_like(x)
    offsets: Any = rng.integers(0, [2 * dy + 1, 2 * dx + 1], (n, 2))   # (row, column) of each crop
    for i in range(n):
        oy, ox = int(offsets[i, 0]), int(offsets[i, 1])
        out[i] = padded[i, oy:oy + h, ox:ox + w]
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    gain = rng.uniform(1 - CONTRAST, 1 + CONTRAST, (n, 1, 1, 1)).astype(x.dtype)
    return (mean + (out - mean) * gain).astype(x.dtype)


def outputs_are_probabilities(out: np.ndarray) -> bool:
    """True when each row is non-negative and sums to 1 (a softmax head)."""
    out = np.asarray(out)
    return bool(np.all(out >= 0) and np.allclose(out.reshape(len(out), -1).sum(-1), 1.0, atol=1e-3))


def kd_loss(tf: Any, teacher: Any, student: Any, *, temperature: float, probabilities: bool,
            y: Any = None, hard_weight: float = 0.0) -> Any:
    """The distillation loss of one batch (a TF scalar); ``y`` adds ``hard_weight`` × cross-entropy."""
    t = tf.reshape(tf.cast(teacher, tf.float32), [tf.shape(teacher)[0], -1])
    s = tf.reshape(tf.cast(student, tf.float32), [tf.shape(student)[0], -1])
    if probabilities:
        t, s = tf.math.log(tf.clip_by_value(t, EPS, 1.0)), tf.math.log(tf.clip_by_value(s, EPS, 1.0))
    p_t = tf.nn.softmax(t / temperature)
    log_p_s = tf.nn.log_softmax(s / temperature)
    kl = tf.reduce_sum(p_t * (tf.math.log(tf.clip_by_value(p_t, EPS, 1.0)) - log_p_s), axis=-1)
    loss = tf.reduce_mean(kl) * temperature ** 2
    if y is not None and hard_weight > 0:
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(y, tf.int32), logits=s)
        loss = loss + hard_weight * tf.reduce_mean(ce)
    return loss


def fit(student: Any, teacher: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, optimizer: Any,
        epochs: int, batch_size: int, temperature: float, probabilities: bool, seed: int,
        y: np.ndarray | None = None, hard_weight: float = 0.0, augmentation: bool = True,
        log: Callable[[str], None] = lambda line: None, what: str = "distillation") -> dict[str, list[float]]:
    """Train ``student`` (a tf_keras or Keras 3 model on the TF backend) towards ``teacher`` on ``x``; return the
    mean loss per epoch. The teacher sees the same augmented batch as the student."""
    from edgelite.converter.loading import import_tf

    tf = import_tf()
    rng = np.random.default_rng(seed)
    history: list[float] = []
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        total, batches = 0.0, 0
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            xb = augment(x[idx], rng) if augmentation else x[idx]
            target = teacher(xb)
            with tf.GradientTape() as tape:
                out = student(xb, training=True)
                loss = kd_loss(tf, target, out, temperature=temperature, probabilities=probabilities,
                               y=None if y is None else y[idx], hard_weight=hard_weight)
            variables = student.trainable_variables
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
            total += float(loss)
            batches += 1
        history.append(round(total / max(batches, 1), 5))
        log(f"{what}: epoch {epoch + 1} loss {history[-1]:.4f}")
    return {"loss": history}
