"""Detection vs the float model's own detections: hand-built images whose matches, IoUs and counts are worked
out by hand below, then the figures and their JSON shape."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgelite.runtime.detection_metrics import (
    DetectionFigures,
    Detections,
    detection_figures,
    iou_matrix,
    match,
)


def det(boxes, scores, **kw):
    return Detections(np.array(boxes, float).reshape(-1, 4), np.array(scores, float), **kw)


# Image 0: float boxes R0, R1, R2; candidate boxes C0 (IoU with R0 = 0.12 / 0.16 = 0.75), C1 (= R1, IoU 1) and
# C2 (IoU with R2 = 0.02 / 0.06 = 1/3: below 0.5, so added). Image 1: no float boxes, two candidate boxes (both
# added). Image 2: one float box the candidate lost.
IMAGE0 = (det([[0, 0, .4, .4], [.5, .5, .9, .9], [0, .6, .2, .8]], [.9, .8, .7]),
          det([[0, 0, .4, .3], [.5, .5, .9, .9], [.1, .6, .3, .8]], [.85, .6, .5]))
IMAGE1 = (det([], []), det([[.1, .1, .2, .2], [.3, .3, .5, .5]], [.6, .7]))
IMAGE2 = (det([[.2, .2, .6, .6]], [.5]), det([], []))


def test_iou_by_hand():
    got = iou_matrix(IMAGE0[0].boxes, IMAGE0[1].boxes)
    assert got[0, 0] == pytest.approx(0.75)
    assert got[1, 1] == pytest.approx(1.0)
    assert got[2, 2] == pytest.approx(1 / 3)
    assert got[0, 1] == 0.0


def test_matching_pairs_by_hand():
    assert [(i, j) for i, j, _ in match(*IMAGE0)] == [(1, 1), (0, 0)]     # highest IoU first
    assert match(*IMAGE1) == [] and match(*IMAGE2) == []


def test_greedy_takes_the_highest_iou_and_is_one_to_one():
    ref = det([[0, 0, 1, 1]], [.9])
    # Candidate 0 covers 0.6 of the float box, candidate 1 covers 0.9 of it: both pass 0.5, only one may match.
    cand = det([[0, 0, .6, 1], [0, 0, .9, 1]], [.9, .9])
    assert match(ref, cand) == [(0, 1, pytest.approx(0.9))]
    # The other way round: two float boxes, one candidate; the closer float box gets it.
    assert [(i, j) for i, j, _ in match(cand, ref)] == [(1, 0)]


def test_classes_must_agree_when_given():
    a = det([[0, 0, .5, .5]], [.9], classes=np.array([1]))
    assert match(a, det([[0, 0, .5, .5]], [.9], classes=np.array([2]))) == []
    assert len(match(a, det([[0, 0, .5, .5]], [.9], classes=np.array([1])))) == 1
    with pytest.raises(ValueError, match="one side only"):
        match(a, det([[0, 0, .5, .5]], [.9]))


def test_figures_by_hand():
    refs, cands = zip(IMAGE0, IMAGE1, IMAGE2, strict=True)
    f = detection_figures(list(refs), list(cands), resamples=300)
    assert (f.images, f.reference_boxes, f.candidate_boxes, f.matched) == (3, 4, 5, 2)
    assert f.detections_kept.candidate == pytest.approx(2 / 4)
    assert f.detections_kept.delta == pytest.approx(-0.5)
    # 1 added on image 0, 2 on the image where float found nothing, 0 on image 2: 3 over 3 images.
    assert f.detections_added_per_image.candidate == pytest.approx(1.0)
    assert f.detections_added_per_image.delta == pytest.approx(1.0)
    assert f.matched_iou.candidate == pytest.approx((0.75 + 1.0) / 2)
    assert f.score_drift.candidate == pytest.approx((0.05 + 0.2) / 2)
    assert f.keypoint_error_px is None and "keypoint_error_px" not in f.to_dict()
    for m in f.metrics().values():
        assert m.reference is None
        lo, hi = m.delta_ci95
        assert lo <= m.delta <= hi


def test_kept_is_a_ratio_of_sums_over_images_not_a_mean_of_per_image_ratios():
    # One image with one float box, lost; one with nine, all kept: 9/10 kept (the mean of ratios would be 0.5).
    nine = [[i / 10, 0, i / 10 + .05, .05] for i in range(9)]
    refs = [det([[.5, .5, .9, .9]], [.9]), det(nine, [.8] * 9)]
    cands = [det([], []), det(nine, [.8] * 9)]
    f = detection_figures(refs, cands, resamples=200)
    assert f.detections_kept.candidate == pytest.approx(0.9)


def test_keypoint_error_in_pixels_and_per_box_size():
    # Input 200 x 100 px. Float box 0.4 x 0.4 = 80 x 40 px, size √(80·40) = 56.57 px. Keypoint 0 moves by
    # (0.015·200, 0.04·100) = (3, 4) px = 5 px, keypoint 1 not at all: mean 2.5 px, (5/56.57 + 0)/2 per box size.
    ref = det([[0, 0, .4, .4]], [.9], keypoints=np.array([[[.1, .1], [.2, .2]]]))
    cand = det([[0, 0, .4, .4]], [.9], keypoints=np.array([[[.115, .14], [.2, .2]]]))
    f = detection_figures([ref], [cand], input_size=(200, 100), resamples=50)
    assert f.keypoint_error_px.candidate == pytest.approx(2.5)
    assert f.keypoint_error_per_box_size.candidate == pytest.approx(5 / np.sqrt(3200) / 2, abs=1e-6)   # 6 decimals
    assert f.keypoint_error_px.delta == pytest.approx(2.5)
    with pytest.raises(ValueError, match="input size"):
        detection_figures([ref], [cand])


def test_identical_detections_are_perfect_with_zero_width_intervals():
    refs, _ = zip(IMAGE0, IMAGE1, IMAGE2, strict=True)
    f = detection_figures(list(refs), list(refs), resamples=200)
    assert f.detections_kept.candidate == 1.0 and f.detections_added_per_image.candidate == 0.0
    assert f.matched_iou.candidate == 1.0 and f.score_drift.candidate == 0.0
    for m in f.metrics().values():
        assert m.delta == 0.0 and m.delta_ci95 == [0.0, 0.0]


def test_json_shape_and_round_trip():
    refs, cands = zip(IMAGE0, IMAGE1, IMAGE2, strict=True)
    f = detection_figures(list(refs), list(cands), resamples=100, seed=7)
    d = json.loads(json.dumps(f.to_dict()))
    assert set(d["detections_kept"]) == {"reference", "candidate", "delta", "delta_ci95"}
    assert d["detections_kept"]["reference"] is None and d["detections_kept"]["candidate"] == 0.5
    assert DetectionFigures.from_dict(d) == f
    assert f == detection_figures(list(refs), list(cands), resamples=100, seed=7)   # seeded


def test_no_boxes_anywhere_leaves_undefined_figures_null():
    f = detection_figures([det([], [])] * 2, [det([], [])] * 2, resamples=20)
    assert f.detections_kept.candidate is None and f.detections_kept.delta_ci95 is None
    assert f.matched_iou.candidate is None
    assert f.detections_added_per_image.candidate == 0.0


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"boxes must be \(K, 4\)"):
        Detections(np.zeros((2, 3)), np.zeros(2))
    with pytest.raises(ValueError, match="scores must be"):
        Detections(np.zeros((2, 4)), np.zeros(3))
    with pytest.raises(ValueError, match="keypoints must be"):
        Detections(np.zeros((2, 4)), np.zeros(2), keypoints=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="reference images"):
        detection_figures([det([], [])], [])
