"""The detect guess and decoding on the two output layouts that need no decoder file: a real .tflite with
``TFLite_Detection_PostProcess``'s four outputs (boxes [N, 4] ymin, xmin, ymax, xmax; classes [N]; scores [N];
count []), built from Keras here, and a dense YOLO head in either layout."""

from __future__ import annotations

import numpy as np
import pytest

from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, resolve

N = 3


@pytest.fixture(scope="module")
def postprocess_tflite(tmp_path_factory):
    """A float .tflite whose outputs have the post-process op's shapes; every value comes from the input (12 box
    values, 3 classes, 3 scores, then the count), so the test chooses what each output holds."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    x = keras.Input((4 * N + 2 * N + 1,), name="x")
    boxes = keras.layers.Reshape((N, 4), name="boxes")(x[:, : 4 * N])
    classes = keras.layers.Identity(name="classes")(x[:, 4 * N: 5 * N])
    scores = keras.layers.Identity(name="scores")(x[:, 5 * N: 6 * N])
    count = keras.layers.Identity(name="count")(x[:, 6 * N])
    model = keras.Model(x, [boxes, classes, scores, count])
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp_path_factory.mktemp("postprocess") / "detector.tflite"
    path.write_bytes(data)
    return path


def _by_shape(model):
    """Output names as boxes, classes, scores, count (the file's order may not be the Keras one)."""
    shapes = {t.name: tuple(int(d) for d in t.shape[1:]) for t in model.outputs}
    return shapes


def test_postprocess_outputs_are_guessed_detect_and_decoded_in_xyxy_order(postprocess_tflite):
    from edgelite.runtime import Model

    model = Model.load(postprocess_tflite)
    shapes = _by_shape(model)
    yxyx = np.array([[0.1, 0.2, 0.5, 0.6], [0.3, 0.0, 0.9, 0.4], [0.0, 0.0, 1.0, 1.0]], np.float32)
    sample = np.concatenate([yxyx.reshape(-1), [2, 0, 7], [0.9, 0.6, 0.4], [2]]).astype(np.float32)
    outputs = model.run(sample[None])
    # the four outputs, told apart by their values (names and order are whatever the converter gave them)
    boxes = next(n for n, s in shapes.items() if s == (N, 4))
    count = next(n for n, s in shapes.items() if s == ())
    scores = next(n for n, s in shapes.items() if s == (N,) and np.allclose(outputs[n][0], [0.9, 0.6, 0.4]))
    classes = next(n for n, s in shapes.items() if s == (N,) and n != scores)
    np.testing.assert_allclose(outputs[boxes][0], yxyx)
    ordered = [boxes, classes, scores, count]
    infos = [OutputInfo(n, shapes[n]) for n in ordered]
    spec = resolve(TaskRequest(), infos, input_hw=(1, 1))
    assert spec.kind == "detect" and "TFLite_Detection_PostProcess" in spec.basis
    assert spec.decoder is not None and spec.decoder.kind == "postprocess"
    det = spec.decoder.decode_one(outputs, 0)
    # count 2: the third row is not read; boxes come back xmin, ymin, xmax, ymax
    np.testing.assert_allclose(det.boxes, [[0.2, 0.1, 0.6, 0.5], [0.0, 0.3, 0.4, 0.9]], atol=1e-6)
    np.testing.assert_allclose(det.scores, [0.9, 0.6], atol=1e-6)
    assert det.classes is not None and det.classes.tolist() == [2, 0]
    assert spec.record() == {"kind": "detect", "decoder": {"kind": "postprocess", "min_score": 0.0}}


@pytest.mark.parametrize("channels_first", [True, False])
def test_a_yolo_head_is_guessed_detect_and_decoded(channels_first):
    c, n = 3, 2100   # a YOLOv8 head at 320 px has 2100 candidates
    rows = np.zeros((n, 4 + c), np.float32)
    rows[:, :4] = [320, 320, 10, 10]   # background candidates: small, scoreless
    rows[7] = [160, 320, 64, 128, 0.1, 0.9, 0.0]        # class 1 at (128..192, 256..384) of 640×640
    rows[8] = [162, 322, 64, 128, 0.1, 0.8, 0.0]        # its duplicate: NMS removes it
    rows[9] = [480, 100, 100, 40, 0.0, 0.0, 0.7]        # class 2
    head = rows.T if channels_first else rows
    shape = tuple(head.shape)
    spec = resolve(TaskRequest(), [OutputInfo("output0", shape)], input_hw=(640, 640))
    assert spec.kind == "detect" and "YOLO" in spec.basis
    assert spec.decoder is not None and spec.decoder.kind == "yolo"
    det = spec.decoder.decode_one({"output0": head[None]}, 0)
    order = np.argsort(-det.scores)
    np.testing.assert_allclose(det.scores[order], [0.9, 0.7], atol=1e-6)
    assert det.classes is not None and det.classes[order].tolist() == [1, 2]
    np.testing.assert_allclose(det.boxes[order], [[128 / 640, 256 / 640, 192 / 640, 384 / 640],
                                                  [430 / 640, 80 / 640, 530 / 640, 120 / 640]], atol=1e-6)


def test_postprocess_outputs_in_any_order_are_read_by_shape_and_name():
    from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, resolve

    n = 5
    # TF's converter lists a Keras model's outputs shuffled: count, scores, boxes, classes here
    outs = [OutputInfo("num", ()), OutputInfo("detection_scores", (n,)), OutputInfo("boxes", (n, 4)),
            OutputInfo("detection_classes", (n,))]
    spec = resolve(TaskRequest(), outs)
    assert spec.kind == "detect" and spec.decoder is not None
    boxes = np.zeros((1, n, 4), np.float32)
    boxes[0, 0] = [0.1, 0.2, 0.5, 0.6]          # ymin, xmin, ymax, xmax as the op writes them
    scores = np.array([[0.9, 0.8, 0.1, 0.0, 0.0]], np.float32)
    classes = np.array([[3, 1, 0, 0, 0]], np.float32)
    dets = spec.decoder.decode_one({"num": np.array([2.0]), "detection_scores": scores, "boxes": boxes,
                                    "detection_classes": classes}, 0)
    assert len(dets.boxes) == 2                  # count = 2 caps the rows read
    np.testing.assert_allclose(dets.boxes[0], [0.2, 0.1, 0.6, 0.5])
    assert dets.scores.tolist() == pytest.approx([0.9, 0.8]) and dets.classes.tolist() == [3, 1]
