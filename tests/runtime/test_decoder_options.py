"""Decoder-file options of MediaPipe's beyond what BlazeFace uses: classes allowed and ignored, max_results,
box formats, NMS thresholds and multiclass NMS, multiscale (RetinaNet / EfficientDet) anchors checked against
MediaPipe's golden anchors, and the one-line refusals of the options not supported."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime.decoders.config import config_from_dict, read_decoder_config
from edgelite.runtime.decoders.detection import DetectionArrays
from edgelite.runtime.decoders.nms import NmsOptions, non_max_suppression
from edgelite.runtime.decoders.ssd_anchors import SsdAnchorOptions, ssd_anchors
from tests.runtime.test_decoders import SHORT_RANGE, _dets, _write


# Hand-built heads on fixed anchors with unit scales, so every decoded value is plain arithmetic:
# centre = raw / 1 · anchor size + anchor centre, size = raw · anchor size.
def _ssd(decode: dict, anchors: list, raw_boxes, raw_scores, nms: dict | None = None) -> DetectionArrays:
    num_classes = np.asarray(raw_scores).shape[-1]
    num_coords = np.asarray(raw_boxes).shape[-1]
    tables = {"fixed_anchors": anchors,
              "decode": {"num_classes": num_classes, "num_boxes": len(anchors), "num_coords": num_coords,
                         "x_scale": 1.0, "y_scale": 1.0, "w_scale": 1.0, "h_scale": 1.0, **decode}}
    if nms is not None:
        tables["nms"] = nms
    config = config_from_dict(tables, "test decoder")
    return config.decoder()(np.asarray(raw_boxes, np.float32)[None], np.asarray(raw_scores, np.float32)[None])


# three boxes of unit-size anchors at the centre; scores per class (no sigmoid)
CLASS_SCORES = [[0.9, 0.2, 0.1],
                [0.8, 0.6, 0.1],
                [0.1, 0.2, 0.7]]
CENTRE = [[0.5, 0.5, 1.0, 1.0]] * 3
SMALL = [[0.0, 0.0, 0.2, 0.2]] * 3


def _classes(dets: DetectionArrays) -> list[tuple[int, float]]:
    return [(int(c), round(float(s), 3)) for c, s in zip(dets.class_ids, dets.scores, strict=True)]


def test_ignore_and_allow_classes():
    base = {"min_score_thresh": 0.3}
    assert _classes(_ssd(base, CENTRE, SMALL, CLASS_SCORES)) == [(0, 0.9), (0, 0.8), (2, 0.7)]
    # class 0 never wins: box 0's best other class is 1 at 0.2 (under the threshold, gone), box 1's is 1 at 0.6
    ignored = _ssd({**base, "ignore_classes": [0]}, CENTRE, SMALL, CLASS_SCORES)
    assert _classes(ignored) == [(1, 0.6), (2, 0.7)]
    # only class 2: boxes 0 and 1 score 0.1 in it and fall under the threshold
    assert _classes(_ssd({**base, "allow_classes": [2]}, CENTRE, SMALL, CLASS_SCORES)) == [(2, 0.7)]
    # classes 0 and 1: box 2's best allowed is class 1 at 0.2, gone
    assert _classes(_ssd({**base, "allow_classes": [0, 1]}, CENTRE, SMALL, CLASS_SCORES)) == [(0, 0.9), (0, 0.8)]


def test_max_results_keeps_the_first_survivors_in_box_order():
    # box 2 scores 0.5 but has a negative width (-0.2): MediaPipe drops it without using up a result;
    # box 0 is under the threshold
    boxes = [[0, 0, 0.2, 0.2], [0, 0, 0.2, 0.2], [0, 0, 0.2, -0.2], [0, 0, 0.2, 0.2], [0, 0, 0.2, 0.2]]
    scores = [[0.2], [0.6], [0.5], [0.95], [0.9]]
    anchors = [[0.5, 0.5, 1.0, 1.0]] * 5
    base = {"min_score_thresh": 0.4}
    assert _classes(_ssd(base, anchors, boxes, scores)) == [(0, 0.6), (0, 0.95), (0, 0.9)]
    assert _classes(_ssd({**base, "max_results": -1}, anchors, boxes, scores)) == [(0, 0.6), (0, 0.95), (0, 0.9)]
    # MediaPipe stops after the first 2 in box order (boxes 1 and 3), not the best 2 (0.95 and 0.9)
    assert _classes(_ssd({**base, "max_results": 2}, anchors, boxes, scores)) == [(0, 0.6), (0, 0.95)]
    assert _classes(_ssd({**base, "max_results": 1}, anchors, boxes, scores)) == [(0, 0.6)]


# one anchor at (0.5, 0.5) sized w 0.2, h 0.4; raw box values 0.1, 0.2, 0.5, 1.0 and one keypoint (0.3, -0.1)
FORMAT_ANCHOR = [[0.5, 0.5, 0.2, 0.4]]
FORMAT_RAW = [[0.1, 0.2, 0.5, 1.0, 0.3, -0.1]]
# YXHW: cy = 0.1·0.4 + 0.5 = 0.54, cx = 0.2·0.2 + 0.5 = 0.54, h = 0.5·0.4 = 0.2, w = 1.0·0.2 = 0.2;
#       keypoint y = 0.3·0.4 + 0.5 = 0.62, x = -0.1·0.2 + 0.5 = 0.48
YXHW = ([0.44, 0.44, 0.64, 0.64], [0.48, 0.62])
# XYWH: cx = 0.1·0.2 + 0.5 = 0.52, cy = 0.2·0.4 + 0.5 = 0.58, w = 0.5·0.2 = 0.1, h = 1.0·0.4 = 0.4;
#       keypoint x = 0.3·0.2 + 0.5 = 0.56, y = -0.1·0.4 + 0.5 = 0.46
XYWH = ([0.47, 0.38, 0.57, 0.78], [0.56, 0.46])
# XYXY: distances from the anchor centre, left 0.1·0.2, top 0.2·0.4, right 0.5·0.2, bottom 1.0·0.4:
#       xmin 0.5 - 0.02, ymin 0.5 - 0.08, xmax 0.5 + 0.1, ymax 0.5 + 0.4; keypoints x, y as XYWH
XYXY = ([0.48, 0.42, 0.60, 0.90], [0.56, 0.46])


@pytest.mark.parametrize(("options", "expected"), [
    ({}, YXHW),
    ({"reverse_output_order": True}, XYWH),
    ({"box_format": "UNSPECIFIED"}, YXHW),
    ({"box_format": "YXHW"}, YXHW),
    ({"box_format": "YXHW", "reverse_output_order": True}, YXHW),   # box_format, once set, decides
    ({"box_format": "XYWH"}, XYWH),
    ({"box_format": "XYXY"}, XYXY),
    ({"box_format": "XYXY", "reverse_output_order": True}, XYXY),
])
def test_box_format(options, expected):
    dets = _ssd({"num_keypoints": 1, "keypoint_coord_offset": 4, **options}, FORMAT_ANCHOR, FORMAT_RAW, [[0.9]])
    np.testing.assert_allclose(dets.boxes[0], expected[0], atol=1e-6)
    np.testing.assert_allclose(dets.keypoints[0, 0], expected[1], atol=1e-6)


def test_xyxy_with_exponential_sizes():
    # w = exp(0.1 + 0.5) · 0.2, h = exp(0.2 + 1.0) · 0.4 around the XYXY centre (0.54, 0.66)
    dets = _ssd({"box_format": "XYXY", "apply_exponential_on_box_size": True}, FORMAT_ANCHOR,
                [FORMAT_RAW[0][:4]], [[0.9]])
    w, h = math.exp(0.6) * 0.2, math.exp(1.2) * 0.4
    np.testing.assert_allclose(dets.boxes[0], [0.54 - w / 2, 0.66 - h / 2, 0.54 + w / 2, 0.66 + h / 2], atol=1e-6)


# A and B overlap with IoU 0.6 (see test_nms_default_and_weighted_by_hand), C is far away
NMS_BOXES = [[0.1, 0.1, 0.5, 0.5], [0.2, 0.1, 0.6, 0.5], [0.7, 0.7, 0.9, 0.9]]


def test_nms_min_score_threshold():
    dets = _dets(NMS_BOXES, [0.9, 0.4, 0.3])
    plain = NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT")
    np.testing.assert_allclose(non_max_suppression(dets, plain).scores, [0.9, 0.3])
    cut = NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT", min_score_threshold=0.35)
    np.testing.assert_allclose(non_max_suppression(dets, cut).scores, [0.9])
    # WEIGHTED: MediaPipe stops at C (0.3 < 0.35) but B, under the threshold too, still weighs into A's group:
    # xmin (0.1·0.9 + 0.2·0.4) / 1.3, xmax (0.5·0.9 + 0.6·0.4) / 1.3
    weighted = non_max_suppression(dets, NmsOptions(0.5, "INTERSECTION_OVER_UNION", "WEIGHTED",
                                                    min_score_threshold=0.35))
    np.testing.assert_allclose(weighted.scores, [0.9])
    np.testing.assert_allclose(weighted.boxes[0], [0.17 / 1.3, 0.1, 0.69 / 1.3, 0.5], rtol=1e-6)
    # at 0.5 B is not even a top box, but still joins A's group; without a threshold C comes back
    everything = non_max_suppression(dets, NmsOptions(0.5, "INTERSECTION_OVER_UNION", "WEIGHTED"))
    np.testing.assert_allclose(everything.scores, [0.9, 0.3])


def test_nms_max_num_detections_and_multiclass():
    dets = DetectionArrays(np.asarray(NMS_BOXES, np.float32), np.asarray([0.9, 0.6, 0.8], np.float32),
                           np.asarray([0, 1, 0], np.int64), np.zeros((3, 0, 2), np.float32))
    # across classes A suppresses B (IoU 0.6 > 0.5); within classes B is alone in class 1 and stays
    one = NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT")
    np.testing.assert_allclose(non_max_suppression(dets, one).scores, [0.9, 0.8])
    multi = NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT", multiclass_nms=True)
    kept = non_max_suppression(dets, multi)
    np.testing.assert_allclose(kept.scores, [0.9, 0.8, 0.6])
    assert kept.class_ids.tolist() == [0, 0, 1]
    # max_num_detections caps after NMS over all classes, by score
    capped = NmsOptions(0.5, "INTERSECTION_OVER_UNION", "DEFAULT", max_num_detections=2, multiclass_nms=True)
    np.testing.assert_allclose(non_max_suppression(dets, capped).scores, [0.9, 0.8])
    for algorithm in ("DEFAULT", "WEIGHTED"):
        capped = NmsOptions(0.5, "INTERSECTION_OVER_UNION", algorithm, max_num_detections=1)
        np.testing.assert_allclose(non_max_suppression(dets, capped).scores, [0.9])


def test_nms_options_through_the_decoder_file(tmp_path):
    # B (box 1) overlaps A; C is far; all one class. The streams/empty options change nothing.
    raw = [[0.3, 0.3, 0.4, 0.4], [0.4, 0.3, 0.4, 0.4], [0.8, 0.8, 0.2, 0.2]]   # XYWH on a unit anchor at 0
    anchors = [[0.0, 0.0, 1.0, 1.0]] * 3
    scores = [[0.9], [0.6], [0.8]]
    decode = {"reverse_output_order": True}
    base = {"min_suppression_threshold": 0.5, "overlap_type": "INTERSECTION_OVER_UNION"}
    plain = _ssd(decode, anchors, raw, scores, base)
    np.testing.assert_allclose(plain.scores, [0.9, 0.8])
    same = _ssd(decode, anchors, raw, scores, {**base, "num_detection_streams": 2, "return_empty_detections": True})
    np.testing.assert_allclose(same.boxes, plain.boxes)
    assert len(_ssd(decode, anchors, raw, scores, {**base, "max_num_detections": 1})) == 1
    assert len(_ssd(decode, anchors, raw, scores, {**base, "min_score_threshold": 0.85})) == 1
    empty = _ssd({**decode, "min_score_thresh": 0.5}, anchors, raw, [[0.0], [0.0], [0.0]],
                 {**base, "return_empty_detections": True})
    assert len(empty) == 0


# ---- multiscale anchors (RetinaNet / EfficientDet) ------------------------------------------------------------
# MediaPipe's ssd_anchors_calculator_test RetinaNetSSDConfig and rows of its golden output
# (mediapipe/calculators/tflite/testdata/anchor_golden_file_2.txt, x_center y_center w h; rows 1-based)
RETINANET = """
[anchors]
input_size_height = 640
input_size_width = 640
strides = [64, 128]
aspect_ratios = [1.0, 2.0, 0.5]
multiscale_anchor_generation = true
min_level = 6
max_level = 7
anchor_scale = 3.0
scales_per_octave = 3

[decode]
num_classes = 1
num_boxes = 1125
num_coords = 4
x_scale = 10.0
y_scale = 10.0
w_scale = 5.0
h_scale = 5.0
"""
RETINANET_GOLDEN = {
    1: (0.05, 0.05, 0.3, 0.3), 2: (0.05, 0.05, 0.377976, 0.377976), 3: (0.05, 0.05, 0.47622, 0.47622),
    4: (0.05, 0.05, 0.424264, 0.212132), 5: (0.05, 0.05, 0.534539, 0.26727), 6: (0.05, 0.05, 0.673477, 0.336739),
    7: (0.05, 0.05, 0.212132, 0.424264), 8: (0.05, 0.05, 0.26727, 0.534539), 9: (0.05, 0.05, 0.336739, 0.673477),
    10: (0.15, 0.05, 0.3, 0.3), 11: (0.15, 0.05, 0.377976, 0.377976), 12: (0.15, 0.05, 0.47622, 0.47622),
    898: (0.95, 0.95, 0.212132, 0.424264), 899: (0.95, 0.95, 0.267269, 0.534539),
    900: (0.95, 0.95, 0.336739, 0.673477), 901: (0.1, 0.1, 0.6, 0.6), 902: (0.1, 0.1, 0.755953, 0.755953),
    903: (0.1, 0.1, 0.952441, 0.952441), 904: (0.1, 0.1, 0.848528, 0.424264), 905: (0.1, 0.1, 1.06908, 0.534539),
    906: (0.1, 0.1, 1.34695, 0.673477), 907: (0.1, 0.1, 0.424264, 0.848528), 908: (0.1, 0.1, 0.534539, 1.06908),
    909: (0.1, 0.1, 0.673477, 1.34695), 910: (0.3, 0.1, 0.6, 0.6), 911: (0.3, 0.1, 0.755953, 0.755953),
    912: (0.3, 0.1, 0.952441, 0.952441), 1125: (0.9, 0.9, 0.673477, 1.34695),
}


def test_multiscale_anchors_match_mediapipe_golden(tmp_path):
    from edgelite.runtime.decoders.ssd_anchors import anchor_count

    # no num_layers, min_scale or max_scale: the multiscale path does not read them (MediaPipe's test omits them)
    config = read_decoder_config(_write(tmp_path, RETINANET))
    a = ssd_anchors(config.anchors)
    # 10×10 cells (640 / 64) and 5×5 (640 / 128), 3 aspect ratios × 3 scales each
    assert a.shape == (1125, 4) and anchor_count(config.anchors) == 1125
    for row, expected in RETINANET_GOLDEN.items():
        np.testing.assert_allclose(a[row - 1], expected, atol=1e-5, err_msg=f"row {row}")


def test_multiscale_offsets_and_pixels():
    # level 3 → stride 8, base size 8 · 4 = 32; 64 is a multiple of 8 (half-stride offset 4 in y), 100 is not
    # (no offset in x); the grid is ceil(64 / 8) × ceil(100 / 8) = 8 × 13
    opts = SsdAnchorOptions(input_size_height=64, input_size_width=100, strides=(8,), aspect_ratios=(1.0,),
                            multiscale_anchor_generation=True, min_level=3, max_level=3, scales_per_octave=1)
    a = ssd_anchors(opts)
    assert a.shape == (8 * 13, 4)
    np.testing.assert_allclose(a[0], [0.0, 4 / 64, 32 / 100, 32 / 64], rtol=1e-6)
    np.testing.assert_allclose(a[1], [8 / 100, 4 / 64, 32 / 100, 32 / 64], rtol=1e-6)
    np.testing.assert_allclose(a[13], [0.0, 12 / 64, 32 / 100, 32 / 64], rtol=1e-6)
    pixels = ssd_anchors(SsdAnchorOptions(**{**opts.__dict__, "normalize_coordinates": False}))
    np.testing.assert_allclose(pixels[13], [0.0, 12.0, 32.0, 32.0], rtol=1e-6)
    # feature maps instead of strides size the grid; the stride stays 2**level
    fm = ssd_anchors(SsdAnchorOptions(**{**opts.__dict__, "strides": (), "feature_map_height": (2,),
                                         "feature_map_width": (3,)}))
    assert fm.shape == (6, 4)
    np.testing.assert_allclose(fm[5, :2], [16 / 100, 12 / 64], rtol=1e-6)


# ---- refusals of the new options ------------------------------------------------------------------------------
@pytest.mark.parametrize(("edit", "message"), [
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nignore_classes = [1]\nallow_classes = [0]"),
     r"\[decode\] ignore_classes and allow_classes are both set; MediaPipe refuses the pair"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nignore_classes = [0]"),
     r"\[decode\] ignore_classes leaves no class of num_classes = 1 to report"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nallow_classes = [3]"),
     r"\[decode\] allow_classes leaves no class"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nmax_results = 0"), r"\[decode\] max_results = 0"),
    (("min_score_thresh = 0.5", 'min_score_thresh = 0.5\nbox_format = "XYZW"'),
     r"\[decode\] box_format = 'XYZW'; one of UNSPECIFIED, YXHW, XYWH, XYXY"),
    (("min_score_thresh = 0.5", 'min_score_thresh = 0.5\nbox_format = "UNSPECIFIED"'),
     r"box_format = 'UNSPECIFIED' with reverse_output_order = true"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nignore_classes = 0"),
     r"\[decode\] ignore_classes must be a list"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\ntensor_mapping = { detections_tensor_index = 0 }"),
     r"\[decode\] tensor_mapping is MediaPipe's option but not supported yet"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nbox_boundaries_indices = { ymin = 0 }"),
     r"\[decode\] box_boundaries_indices is MediaPipe's option but not supported yet"),
    (("fixed_anchor_size = true", "fixed_anchor_size = true\nfixed_anchors = []"),
     r"\[anchors\] fixed_anchors is MediaPipe's option but not supported yet .*top-level"),
    (('algorithm = "WEIGHTED"', 'algorithm = "WEIGHTED"\nmax_num_detections = 0'), r"\[nms\] max_num_detections = 0"),
    (('algorithm = "WEIGHTED"', 'algorithm = "WEIGHTED"\nnum_detection_streams = 0'),
     r"\[nms\] num_detection_streams must be ≥ 1"),
    (('algorithm = "WEIGHTED"', 'algorithm = "WEIGHTED"\nreturn_empty_detections = 1'),
     r"\[nms\] return_empty_detections must be bool"),
    (("min_score_thresh = 0.5", "min_score_thresh = 0.5\nmax_resultz = 3"), r"\[decode\] unknown key 'max_resultz'"),
])
def test_new_option_refusals_are_one_line(tmp_path, edit, message):
    path = _write(tmp_path, SHORT_RANGE.replace(*edit))
    with pytest.raises(UserInputError, match=message) as e:
        read_decoder_config(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_pasted_options_are_accepted(tmp_path):
    # the BlazeFace file plus every newly accepted option at a value that keeps its decoding as it was
    extra = SHORT_RANGE.replace("min_score_thresh = 0.5", "min_score_thresh = 0.5\nmax_results = -1\n"
                                "ignore_classes = [5]\nbox_format = \"XYWH\"\nmax_classes_per_detection = 1").replace(
        'algorithm = "WEIGHTED"', 'algorithm = "WEIGHTED"\nmax_num_detections = -1\nmin_score_threshold = -1.0\n'
        "num_detection_streams = 1\nreturn_empty_detections = true\nmulticlass_nms = false")
    config = read_decoder_config(_write(tmp_path, extra))
    assert config.decode.layout == "XYWH" and config.nms is not None and config.nms.return_empty_detections


@pytest.mark.parametrize(("edit", "message"), [
    (("strides = [64, 128]", "strides = [64]"), r"strides has 1 entries for levels 6\.\.7 \(2\)"),
    (("max_level = 7", "max_level = 5"), r"min_level = 6, max_level = 5"),
    (("max_level = 7", "max_level = 31\nfeature_map_height = []"), r"max_level = 31; need"),
    (("scales_per_octave = 3", "scales_per_octave = 0"), r"scales_per_octave must be ≥ 1"),
    (("anchor_scale = 3.0", "anchor_scale = -3.0"), r"anchor_scale must be a finite number > 0"),
    (("num_boxes = 1125", "num_boxes = 1000"), r"makes 1125 anchors but \[decode\] num_boxes = 1000"),
    (("input_size_width = 640\n", ""), r"\[anchors\] missing key 'input_size_width'"),
    # 9000 × 9000 cells at strides 1, twice, 9 anchors each: counted and refused before anything is built
    (("strides = [64, 128]", "strides = [1, 1]"), r"makes 9000 .*"),
])
def test_multiscale_refusals(tmp_path, edit, message):
    text = RETINANET.replace(*edit)
    if edit[1] == "strides = [1, 1]":
        text = text.replace("= 640", "= 9000")
        message = f"makes {2 * 9000 * 9000 * 9} anchors, over the limit of 1000000"
    path = _write(tmp_path, text)
    with pytest.raises(UserInputError, match=message) as e:
        read_decoder_config(path)
    assert "\n" not in str(e.value) and str(path) in str(e.value)


def test_non_multiscale_still_needs_its_keys(tmp_path):
    text = SHORT_RANGE.replace("min_scale = 0.1484375\n", "")
    with pytest.raises(UserInputError, match=r"\[anchors\] missing key 'min_scale'"):
        read_decoder_config(_write(tmp_path, text))
