"""COCO mAP with annotations (runtime.tasks.coco): faster-coco-eval's figures checked against pycocotools, the
paired bootstrap, the crop mapping, and every bad input as one line."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgelite.core.errors import UserInputError
from edgelite.runtime.detection_metrics import Detections
from edgelite.runtime.tasks import coco, coco_annotations
from edgelite.runtime.tasks.base import EvalContext

pytest.importorskip("faster_coco_eval")

CATEGORIES = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 11, "name": "bird"}]


def synthetic(n: int = 30, seed: int = 0) -> tuple[dict, list[list[dict]]]:
    """A COCO file of ``n`` images of varied sizes with 0–6 boxes of 3 categories, and detections in pixels:
    the boxes jittered, some missed, some false, some with the wrong class, scores at random."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(n):
        w, h = int(rng.integers(200, 641)), int(rng.integers(150, 481))
        images.append({"id": 100 + i, "file_name": f"sub/img_{i:03d}.jpg", "width": w, "height": h})
        image_dets = []
        for _ in range(int(rng.integers(0, 7))):
            bw, bh = rng.uniform(8, w / 2), rng.uniform(8, h / 2)
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            cat = int(rng.choice([3, 7, 11]))
            anns.append({"id": len(anns) + 1, "image_id": 100 + i, "category_id": cat, "bbox": [x, y, bw, bh],
                         "area": bw * bh * 0.8, "iscrowd": int(rng.random() < 0.05)})
            if rng.random() < 0.8:   # found, jittered
                jx, jy = rng.normal(0, 0.08 * bw), rng.normal(0, 0.08 * bh)
                box = [x + jx, y + jy, bw * rng.uniform(0.85, 1.15), bh * rng.uniform(0.85, 1.15)]
                wrong = rng.random() < 0.1
                image_dets.append({"image_id": 100 + i, "bbox": box, "score": float(rng.uniform(0.3, 1)),
                                   "category_id": int(rng.choice([3, 7, 11])) if wrong else cat})
        for _ in range(int(rng.integers(0, 3))):   # false detections
            bw, bh = rng.uniform(8, w / 3), rng.uniform(8, h / 3)
            image_dets.append({"image_id": 100 + i, "bbox": [rng.uniform(0, w - bw), rng.uniform(0, h - bh), bw, bh],
                               "score": float(rng.uniform(0, 0.7)), "category_id": int(rng.choice([3, 7, 11]))})
        dets.append(image_dets)
    return {"images": images, "annotations": anns, "categories": CATEGORIES}, dets


def normalized(data: dict, dets: list[list[dict]]) -> list[Detections]:
    """Pixel detections as a detector gives them: boxes normalized to the (uncropped) image, class indices in
    category id order."""
    index = {c: k for k, c in enumerate(sorted(c["id"] for c in data["categories"]))}
    out = []
    for im, image_dets in zip(data["images"], dets, strict=True):
        w, h = im["width"], im["height"]
        boxes = [[x / w, y / h, (x + bw) / w, (y + bh) / h] for x, y, bw, bh in (d["bbox"] for d in image_dets)]
        out.append(Detections(boxes=np.array(boxes).reshape(-1, 4), scores=np.array([d["score"] for d in image_dets]),
                              classes=np.array([index[d["category_id"]] for d in image_dets], np.int64)))
    return out


def write(tmp_path: Path, data: object, name: str = "ann.json") -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data))
    return p


def ids_of(data: dict) -> tuple[str, ...]:
    return tuple(im["file_name"] for im in data["images"])


def pycocotools_stats(data: dict, dets: list[list[dict]]) -> tuple[np.ndarray, dict[int, float]]:
    """The reference evaluator's summary stats and AP@0.5:0.95 per category id."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = json.loads(json.dumps(data))
        gt.createIndex()
        dt = gt.loadRes([dict(d) for image_dets in dets for d in image_dets])
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"][:, :, :, 0, -1]
    per_class = {}
    for k, cid in enumerate(ev.params.catIds):
        p = prec[:, :, k]
        per_class[cid] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")
    return np.asarray(ev.stats), per_class


def test_figures_agree_with_pycocotools(tmp_path: Path) -> None:
    data, dets = synthetic()
    path = write(tmp_path, data)
    truth = [[{"image_id": a["image_id"], "bbox": a["bbox"], "score": 1.0, "category_id": a["category_id"]}
              for a in data["annotations"] if a["image_id"] == im["id"]] for im in data["images"]]
    ctx = EvalContext(ids=ids_of(data), resamples=0)
    got = coco.judge_labelled(path, ctx, normalized(data, truth), normalized(data, dets))
    stats, per_class = pycocotools_stats(data, dets)
    assert 0.2 < stats[0] < 0.9   # a dataset on which the figures say something
    m = got.metrics
    assert m["map50_95"].candidate == pytest.approx(stats[0], abs=2e-6)
    assert m["map50"].candidate == pytest.approx(stats[1], abs=2e-6)
    assert m["ar100"].candidate == pytest.approx(stats[8], abs=2e-6)
    ref_stats, _ = pycocotools_stats(data, truth)
    assert m["map50_95"].reference == pytest.approx(ref_stats[0], abs=2e-6)
    assert m["map50_95"].delta == pytest.approx(stats[0] - ref_stats[0], abs=4e-6)
    assert m["map50_95"].delta_ci95 is None   # 0 resamples: point figures only
    names = {c["id"]: c["name"] for c in CATEGORIES}
    assert set(got.per_class_ap) == set(names.values())
    for cid, ap in per_class.items():
        assert got.per_class_ap[names[cid]]["candidate"] == pytest.approx(ap, abs=2e-6)
    json.dumps(got.per_class_ap)   # JSON-ready
    assert "faster-coco-eval" in got.method and "0 resamples" in got.method


def test_repeated_images_count_twice(tmp_path: Path) -> None:
    """A resample that draws an image twice is scored as a dataset holding two copies of it."""
    data, dets = synthetic(8, seed=3)
    gt = coco.load_annotations(write(tmp_path, data))
    px = [coco.pixel_detections(d, gt.sizes[k], 1.0, gt, "int8") for k, d in enumerate(normalized(data, dets))]
    order = [0, 0, 2, 5, 5, 5, 7]
    got = coco.coco_scores(gt, px, order)
    # the same draw built by hand as a dataset of copies, each with its own image id
    images, anns, dup_dets = [], [], []
    for k, j in enumerate(order):
        im = data["images"][j]
        images.append({**im, "id": 1000 + k})
        for a in data["annotations"]:
            if a["image_id"] == im["id"]:   # each copy's boxes get their own ids
                anns.append({**a, "id": len(anns) + 1, "image_id": 1000 + k})
        dup_dets.append([{**d, "image_id": 1000 + k} for d in dets[j]])
    stats, _ = pycocotools_stats({"images": images, "annotations": anns, "categories": CATEGORIES}, dup_dets)
    assert got.map50_95 == pytest.approx(stats[0], abs=1e-9)
    assert got.ar100 == pytest.approx(stats[8], abs=1e-9)
    # the same with IoUs kept from evaluations of other draws, as the bootstrap keeps them
    cache: dict = {}
    for other in ([7, 6, 5, 4, 3, 2, 1, 0], [5, 2, 2]):
        coco.coco_scores(gt, px, other, cache)
    assert cache   # the evaluations did keep IoUs
    reused = coco.coco_scores(gt, px, order, cache)
    assert (reused.map50_95, reused.map50, reused.ar100) == pytest.approx((stats[0], stats[1], stats[8]), abs=1e-9)
    assert got.map50_95 != pytest.approx(coco.coco_scores(gt, px, sorted(set(order))).map50_95, abs=1e-6)


def test_perfect_detections_and_a_candidate_that_drops_boxes(tmp_path: Path) -> None:
    data, _ = synthetic(30, seed=1)
    for a in data["annotations"]:
        a["iscrowd"] = 0
    path = write(tmp_path, data)
    truth = [[{"bbox": a["bbox"], "score": 1.0, "category_id": a["category_id"]}
              for a in data["annotations"] if a["image_id"] == im["id"]] for im in data["images"]]
    ctx = EvalContext(ids=ids_of(data), resamples=150, seed=4)
    same = coco.judge_labelled(path, ctx, normalized(data, truth), normalized(data, truth))
    for name in ("map50_95", "map50", "ar100"):
        m = same.metrics[name]
        assert (m.reference, m.candidate, m.delta, m.delta_ci95) == (1.0, 1.0, 0.0, [0.0, 0.0])
    rng = np.random.default_rng(9)
    dropped = [[d for d in image_dets if rng.random() >= 0.3] for image_dets in truth]
    worse = coco.judge_labelled(path, ctx, normalized(data, truth), normalized(data, dropped))
    m = worse.metrics["map50_95"]
    assert m.reference == 1.0 and m.delta is not None and m.delta < -0.1
    assert m.delta_ci95 is not None and m.delta_ci95[0] <= m.delta <= m.delta_ci95[1] < 0
    assert worse.metrics["ar100"].delta_ci95[1] < 0
    assert "150 resamples" in worse.method and "seed 4" in worse.method


def test_resamples_are_capped(tmp_path: Path) -> None:
    data, dets = synthetic(4, seed=2)
    path = write(tmp_path, data)
    ctx = EvalContext(ids=ids_of(data), resamples=coco.MAP_RESAMPLES + 800)
    got = coco.judge_labelled(path, ctx, normalized(data, dets), normalized(data, dets))
    assert f"{coco.MAP_RESAMPLES} resamples (capped" in got.method


def test_crop_fraction_maps_boxes_back_to_image_pixels(tmp_path: Path) -> None:
    # A 200×100 image; the model saw its central half: pixels x 50..150, y 25..75, stretched to its input.
    # The box x 60..100, y 30..50 sits at x (60−50)/100 = 0.1 .. 0.5 and y (30−25)/50 = 0.1 .. 0.5 of that view.
    got = coco.to_pixels(np.array([[0.1, 0.1, 0.5, 0.5]]), 200, 100, 0.5)
    np.testing.assert_allclose(got, [[60, 30, 40, 20]], atol=1e-9)
    # odd sizes crop whole pixels as the preprocessing does: 201 × 0.5 → 100 px wide (round half to even),
    # starting at pixel (201 − 100) // 2 = 50; 99 × 0.5 → 50 px tall starting at 24
    np.testing.assert_allclose(coco.to_pixels(np.array([[0.0, 0.0, 1.0, 1.0]]), 201, 99, 0.5), [[50, 24, 100, 50]])
    np.testing.assert_allclose(coco.to_pixels(np.array([[0.25, 0.5, 0.75, 1.0]]), 200, 100), [[50, 50, 100, 50]])
    # end to end: ground truth seen through the crop scores 1; read as the whole image it does not
    data = {"images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [60, 30, 40, 20]}],
            "categories": [{"id": 3, "name": "face"}]}
    path = write(tmp_path, data)
    seen = [Detections(boxes=np.array([[0.1, 0.1, 0.5, 0.5]]), scores=np.array([0.9]))]
    cropped = coco.judge_labelled(path, EvalContext(ids=("a.jpg",), resamples=0, crop_fraction=0.5), seen, seen)
    assert cropped.metrics["map50_95"].candidate == 1.0
    whole = coco.judge_labelled(path, EvalContext(ids=("a.jpg",), resamples=0), seen, seen)
    assert whole.metrics["map50_95"].candidate < 0.5


def one_image(**ann: object) -> dict:
    return {"images": [{"id": 1, "file_name": "x/a.jpg", "width": 100, "height": 80}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], **ann}],
            "categories": [{"id": 1, "name": "thing"}]}


def judge(path: Path, ids: tuple[str, ...] = ("x/a.jpg",),
          dets: list[Detections] | None = None) -> coco.LabelledFigures:
    dets = dets or [Detections(boxes=np.array([[0.1, 0.1, 0.3, 0.3]]), scores=np.array([0.5])) for _ in ids]
    return coco.judge_labelled(path, EvalContext(ids=ids, resamples=0), dets, dets)


def raises_one_line(path: Path, match: str, **kw: object) -> None:
    with pytest.raises(UserInputError, match=match) as e:
        judge(path, **kw)  # type: ignore[arg-type]
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", r"not valid JSON.*images\[\]"),
    ("[1, 2]", "top level is a JSON list"),
    (json.dumps({"images": [], "annotations": {}, "categories": []}), r"no annotations\[\] list"),
    (json.dumps({**one_image(), "images": [{"id": 1, "file_name": "x/a.jpg"}]}), "positive width and height"),
    (json.dumps({**one_image(), "categories": []}), r"categories\[\] is empty"),
    (json.dumps(one_image(category_id=2)), "annotation 5 names category_id 2"),
    (json.dumps(one_image(image_id=9)), "annotation 5 names image_id 9"),
    (json.dumps(one_image(bbox=[1, 2, 3])), "annotation 5 has no bbox of 4 numbers"),
])
def test_malformed_files_are_one_line(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    raises_one_line(path, rf"bad\.json: .*{match}")


@pytest.mark.parametrize("bbox", [[-3, 10, 20, 20], [10, -2, 20, 20], [90, 10, 12, 20], [10, 70, 20, 12],
                                  [10, 10, 0, 20], [10, 10, 20, -1]])
def test_boxes_outside_the_image_name_the_annotation(tmp_path: Path, bbox: list[float]) -> None:
    raises_one_line(write(tmp_path, one_image(bbox=bbox)), r"annotation 5 on 'x/a\.jpg' .* outside its 100×80 image")


def test_a_box_within_a_pixel_of_the_edge_is_kept(tmp_path: Path) -> None:
    got = judge(write(tmp_path, one_image(bbox=[-0.5, 10, 100.9, 20])))
    assert got.metrics["map50_95"].candidate is not None


def test_missing_and_oversized_files(tmp_path: Path) -> None:
    raises_one_line(tmp_path / "nope.json", "cannot read the annotations file")
    big = tmp_path / "big.json"
    with big.open("wb") as f:   # sparse: no disk written
        f.truncate(coco.MAX_ANNOTATION_BYTES + 1)
    raises_one_line(big, "over the 64 MiB limit")
    assert coco.MAX_ANNOTATION_BYTES == 64 * 2**20


def test_too_many_annotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = one_image()
    data["annotations"] = data["annotations"] * 4
    monkeypatch.setattr(coco_annotations, "MAX_ANNOTATIONS", 3)   # the real cap is 10 M: too many to write in a test
    raises_one_line(write(tmp_path, data), "4 annotations is over the limit of 3")


@pytest.mark.parametrize("key", ["images", "categories"])
def test_too_many_images_or_categories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str) -> None:
    data = one_image()
    data[key] = data[key] * 4   # counted before the duplicate ids could be noticed
    monkeypatch.setattr(coco_annotations, {"images": "MAX_IMAGES", "categories": "MAX_CATEGORIES"}[key], 3)
    raises_one_line(write(tmp_path, data), f"4 {key} is over the limit of 3")


def test_annotated_images_must_be_in_the_evaluation_data(tmp_path: Path) -> None:
    data = one_image()
    data["images"].append({"id": 2, "file_name": "y/b.jpg", "width": 50, "height": 50})
    raises_one_line(write(tmp_path, data), r"1 of its 2 images are not in the evaluation data \(e\.g\. 'y/b\.jpg'\); "
                                           "give --data the annotated images")


def test_a_subset_of_the_evaluation_data_leaves_the_other_annotated_images_out(tmp_path: Path) -> None:
    data = one_image()
    data["images"].append({"id": 2, "file_name": "y/b.jpg", "width": 50, "height": 50})
    gt = coco.load_annotations(write(tmp_path, data))
    pairs, unlisted = coco.match_samples(("x/a.jpg",), gt, subset=True)   # a --samples subset or a search part
    assert pairs == [(0, 0)] and unlisted == []
    with pytest.raises(UserInputError, match="not in the evaluation data"):
        coco.match_samples(("x/a.jpg",), gt)


def test_matching_by_path_then_base_name(tmp_path: Path) -> None:
    path = write(tmp_path, one_image())   # file_name "x/a.jpg"
    assert judge(path, ids=("a.jpg",)).metrics["map50_95"].candidate is not None   # base name
    # the exact path wins over another sample with the same base name
    assert judge(path, ids=("x/a.jpg", "z/a.jpg")).notes[0].startswith("1 of the 2 evaluation images")
    data = one_image()
    data["images"][0]["file_name"] = "a.jpg"
    raises_one_line(write(tmp_path, data, "b.json"), "matches 2 evaluation images by name",
                    ids=("x/a.jpg", "z/a.jpg"))


def test_unlisted_evaluation_images_are_left_out_with_a_note(tmp_path: Path) -> None:
    path = write(tmp_path, one_image())
    hit = Detections(boxes=np.array([[0.1, 0.125, 0.3, 0.375]]), scores=np.array([0.9]))
    stray = Detections(boxes=np.array([[0.5, 0.5, 0.9, 0.9]]), scores=np.array([0.99]))
    got = coco.judge_labelled(path, EvalContext(ids=("x/a.jpg", "other.png"), resamples=0), [hit, stray],
                              [hit, stray])
    assert got.metrics["map50_95"].candidate == 1.0   # the stray detection on the unlisted image counts nowhere
    assert got.notes == [f"1 of the 2 evaluation images have no entry in {path} (e.g. 'other.png') and are left "
                         "out of mAP"]


def test_class_ids_must_name_the_categories(tmp_path: Path) -> None:
    data, dets = synthetic(3, seed=5)
    path = write(tmp_path, data)
    ids = ids_of(data)
    no_classes = [Detections(boxes=np.array([[0.1, 0.1, 0.2, 0.2]]), scores=np.array([0.5])) for _ in ids]
    raises_one_line(path, "has 3 categories but the detector gives no class ids", ids=ids, dets=no_classes)
    # 4: neither an index into the 3 categories nor one of their ids (3, 7, 11)
    out_of_range = [Detections(boxes=np.array([[0.1, 0.1, 0.2, 0.2]]), scores=np.array([0.5]),
                               classes=np.array([4])) for _ in ids]
    raises_one_line(path, "gives class id 4 but .* has 3 categories", ids=ids, dets=out_of_range)


def test_without_the_evaluator_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgelite.core.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "faster_coco_eval", None)   # what Python does when it is not installed
    coco._reusing_evaluator.cache_clear()
    try:
        with pytest.raises(MissingDependencyError, match=r"pip install 'edgelite\[coco\]'"):
            judge(write(tmp_path, one_image()))
    finally:
        coco._reusing_evaluator.cache_clear()


def coco90(tmp_path: Path) -> tuple[Path, dict, list[Detections]]:
    """COCO's id space in miniature: categories 1, 2, 90 (K = 3, not contiguous); one image whose two boxes are
    a person (id 1) and a toothbrush (id 90), and detections exactly on them."""
    data = {"images": [{"id": 1, "file_name": "x/a.jpg", "width": 100, "height": 100}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
                            {"id": 2, "image_id": 1, "category_id": 90, "bbox": [50, 50, 30, 30]}],
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "bicycle"},
                           {"id": 90, "name": "toothbrush"}]}
    boxes = np.array([[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.8, 0.8]])
    return write(tmp_path, data), data, [Detections(boxes=boxes, scores=np.array([0.9, 0.8]), classes=np.array(c))
                                         for c in ([1, 90], [0, 2])]


def test_class_ids_that_are_category_ids_are_mapped_by_id_with_a_note(tmp_path: Path) -> None:
    path, _, (by_id, _) = coco90(tmp_path)
    got = judge(path, dets=[by_id])   # class 90 ≥ K = 3, and 1 and 90 are both category ids
    # read by id, each detection lands on its own box: perfect; read as indices 90 would be refused
    assert got.metrics["map50_95"].candidate == 1.0
    assert got.per_class_ap["toothbrush"]["candidate"] == 1.0
    assert len(got.notes) == 1 and "read as category ids" in got.notes[0] and "class ids 1..90" in got.notes[0]


def test_index_class_ids_against_non_contiguous_categories_say_so(tmp_path: Path) -> None:
    path, _, (_, by_index) = coco90(tmp_path)
    got = judge(path, dets=[by_index])   # 0 → person (id 1), 2 → toothbrush (id 90): indices in id order
    assert got.metrics["map50_95"].candidate == 1.0
    assert len(got.notes) == 1
    assert "read as indices" in got.notes[0] and "ids 1..90 (not 0..2 or 1..3)" in got.notes[0]
    # ids that fit both readings are read as indices, and the note says they could be category ids
    both = Detections(boxes=np.array([[0.1, 0.1, 0.3, 0.3]]), scores=np.array([0.9]), classes=np.array([1]))
    note = judge(path, dets=[both]).notes[0]
    assert "read as indices" in note and "all category ids too" in note
    # contiguous ids (one_image: id 1 only) need no note
    plain = Detections(boxes=np.array([[0.1, 0.1, 0.3, 0.3]]), scores=np.array([0.9]), classes=np.array([0]))
    assert judge(write(tmp_path, one_image(), "one.json"), dets=[plain]).notes == []
