"""COCO annotation files, read and checked, and their images matched to the evaluation samples: what the box
(``coco``) and keypoint (``coco_keypoints``) evaluations share.

One COCO JSON file (``images[]``, ``annotations[]``, ``categories[]``), read whole, so it is bounded first
(``MAX_ANNOTATION_BYTES``, then ``MAX_ANNOTATIONS``, ``MAX_IMAGES``, ``MAX_CATEGORIES`` before anything is built
from the lists). Its images are matched to the evaluation samples by file name: the path inside the data folder
first, else the base name (an ambiguous base name is refused). An annotated image that is not among the
evaluation samples is refused unless the samples are a subset of the evaluation data; an evaluation image the
file does not list is left out (nothing says what is on it). Every mistake is one ``UserInputError`` line naming
the file.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgelite.core.errors import UserInputError

# COCO val2017's instances file is ~25 MB. json.load builds Python objects of many times a file's size (a
# 64 MiB file can take 1–2 GB), so the cap sits at 2.5× val2017 rather than at any file size.
MAX_ANNOTATION_BYTES = 64 * 1024 * 1024
MAX_ANNOTATIONS = 10_000_000               # COCO train2017 has 0.86 M boxes
MAX_IMAGES = 200_000                       # COCO train2017 has 118 k images, val2017 5 k
MAX_CATEGORIES = 10_000                    # COCO has 80, LVIS 1203
EDGE_TOLERANCE_PX = 1.0                    # labelling tools round box edges; a box this far out is still inside
FIX = "give a COCO detection file: images[] (id, file_name, width, height), annotations[] (image_id, " \
      "category_id, bbox [x, y, w, h] in pixels), categories[] (id, name)"


@dataclass(frozen=True)
class GroundTruth:
    """The annotations, checked: per annotated image its file name, size (width, height) and boxes (COCO
    annotation fields: bbox, category_id, iscrowd, area); the categories in id order."""

    path: Path
    file_names: tuple[str, ...]
    sizes: tuple[tuple[float, float], ...]
    boxes: tuple[tuple[dict[str, Any], ...], ...]
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]

    def taking(self, images: Sequence[int]) -> GroundTruth:
        """The annotations of ``images`` (indices, in that order) only, the categories unchanged."""
        return GroundTruth(path=self.path, file_names=tuple(self.file_names[j] for j in images),
                           sizes=tuple(self.sizes[j] for j in images), boxes=tuple(self.boxes[j] for j in images),
                           category_ids=self.category_ids, category_names=self.category_names)



# --- reading the annotations -------------------------------------------------------------------------------------

def bad(path: Path, what: str) -> UserInputError:
    return UserInputError(f"{path}: {what}; {FIX}")


def finite_number(value: object) -> float | None:
    """``value`` as a finite float, None when it is not a finite number (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    v = float(value)
    return v if math.isfinite(v) else None


def int_id(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def read_json(path: Path) -> dict[str, Any]:
    """The file's JSON object, its size and count bounded before anything is built from it."""
    try:
        size = path.stat().st_size
    except OSError as e:
        raise UserInputError(f"{path}: cannot read the annotations file ({e.strerror or e}); give the path of a "
                             "COCO JSON file") from None
    if size > MAX_ANNOTATION_BYTES:
        raise UserInputError(f"{path}: {size / 2**20:.0f} MiB is over the {MAX_ANNOTATION_BYTES // 2**20} MiB "
                             "limit on annotation files; keep only the annotations of the evaluation images")
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise bad(path, f"not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise bad(path, f"the top level is a JSON {type(data).__name__}, not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise bad(path, f"no {key}[] list")
    # counted before any per-image or per-category structure is built from them
    for key, limit, fix in (("annotations", MAX_ANNOTATIONS, "keep only the annotations of the evaluation images"),
                            ("images", MAX_IMAGES, "keep only the evaluation images"),
                            ("categories", MAX_CATEGORIES, "is it a COCO detection file?")):
        if len(data[key]) > limit:
            raise UserInputError(f"{path}: {len(data[key])} {key} is over the limit of {limit}; {fix}")
    return data


def read_categories(path: Path, raw: list[Any]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    cats: dict[int, str] = {}
    for i, c in enumerate(raw):
        cid = int_id(c.get("id")) if isinstance(c, dict) else None
        if cid is None:
            raise bad(path, f"categories[{i}] has no integer id")
        if cid in cats:
            raise bad(path, f"category id {cid} appears twice")
        cats[cid] = str(c.get("name", cid))
    if not cats:
        raise bad(path, "categories[] is empty")
    ids = tuple(sorted(cats))
    names = [cats[i] for i in ids]
    # per-class AP is keyed by name: a repeated name keeps its id so neither class hides the other
    names = [n if names.count(n) == 1 else f"{n} (id {i})" for n, i in zip(names, ids, strict=True)]
    return ids, tuple(names)


def read_images(path: Path, raw: list[Any]) -> dict[int, tuple[str, float, float]]:
    """image id → (normalized file name, width, height)."""
    images: dict[int, tuple[str, float, float]] = {}
    seen: set[str] = set()
    for i, im in enumerate(raw):
        if not isinstance(im, dict):
            raise bad(path, f"images[{i}] is not an object")
        iid, name = int_id(im.get("id")), im.get("file_name")
        w, h = finite_number(im.get("width")), finite_number(im.get("height"))
        if iid is None or not isinstance(name, str) or not name or w is None or h is None or w <= 0 or h <= 0:
            raise bad(path, f"images[{i}] needs an integer id, a file_name and positive width and height")
        if iid in images:
            raise bad(path, f"image id {iid} appears twice")
        name = normal_name(name)
        if name in seen:
            raise bad(path, f"file_name {name!r} appears twice in images[]")
        seen.add(name)
        images[iid] = (name, w, h)
    if not images:
        raise bad(path, "images[] is empty")
    return images


def read_box(path: Path, i: int, ann: object, images: dict[int, tuple[str, float, float]],
         categories: set[int]) -> tuple[int, dict[str, Any]]:
    """One annotation, checked: (its image id, its COCO fields)."""
    if not isinstance(ann, dict):
        raise bad(path, f"annotations[{i}] is not an object")
    aid = ann.get("id", f"#{i}")
    iid, cid, bbox = int_id(ann.get("image_id")), int_id(ann.get("category_id")), ann.get("bbox")
    if iid not in images:
        raise bad(path, f"annotation {aid} names image_id {ann.get('image_id')!r}, which images[] does not list")
    if cid not in categories:
        raise bad(path, f"annotation {aid} names category_id {ann.get('category_id')!r}, which categories[] "
                         "does not list")
    xywh = [finite_number(v) for v in bbox] if isinstance(bbox, list) and len(bbox) == 4 else None
    if xywh is None or any(v is None for v in xywh):
        raise bad(path, f"annotation {aid} has no bbox of 4 numbers")
    x, y, w, h = (float(v) for v in xywh)  # type: ignore[arg-type]
    name, width, height = images[iid]
    t = EDGE_TOLERANCE_PX
    if w <= 0 or h <= 0 or x < -t or y < -t or x + w > width + t or y + h > height + t:
        raise UserInputError(f"{path}: annotation {aid} on {name!r} has bbox [x, y, w, h] = {[x, y, w, h]} outside "
                             f"its {width:g}×{height:g} image (or empty); fix the box or the image's size")
    area = finite_number(ann.get("area"))
    crowd = ann.get("iscrowd", 0)
    # pycocotools reads area (for its size ranges) and iscrowd (crowd boxes match many detections, count none)
    return iid, {"bbox": [x, y, w, h], "category_id": cid, "iscrowd": 1 if crowd in (1, True) else 0,
                 "area": area if area is not None and area > 0 else w * h}


def normal_name(name: str) -> str:
    name = name.replace("\\", "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def load_annotations(path: Path) -> GroundTruth:
    """The annotations file, read and checked (one-line ``UserInputError`` naming the file and the fix)."""
    path = Path(path)
    data = read_json(path)
    category_ids, category_names = read_categories(path, data["categories"])
    images = read_images(path, data["images"])
    per_image: dict[int, list[dict[str, Any]]] = {iid: [] for iid in images}
    cats = set(category_ids)
    for i, ann in enumerate(data["annotations"]):
        iid, box = read_box(path, i, ann, images, cats)
        per_image[iid].append(box)
    order = list(images)
    return GroundTruth(path=path, file_names=tuple(images[i][0] for i in order),
                       sizes=tuple((images[i][1], images[i][2]) for i in order),
                       boxes=tuple(tuple(per_image[i]) for i in order), category_ids=category_ids,
                       category_names=category_names)


# --- evaluation samples ↔ annotated images ------------------------------------------------------------------------

def match_samples(ids: Sequence[str], gt: GroundTruth, *, subset: bool = False
                  ) -> tuple[list[tuple[int, int]], list[str]]:
    """(sample index, annotated image index) pairs in sample order, and the samples the file does not list.

    A file name matches a sample id exactly (the path inside the data folder), else by base name when exactly one
    sample has it. Annotated images outside ``ids`` are refused (the wrong --data), unless ``ids`` are a
    ``subset`` of the evaluation data (``--samples``, the search or confirm part of ``--max-drop``)."""
    exact = {normal_name(s): i for i, s in enumerate(ids)}
    by_base: dict[str, list[int]] = {}
    for k, s in enumerate(ids):
        by_base.setdefault(posixpath.basename(normal_name(s)), []).append(k)
    pairs: dict[int, int] = {}
    missing: list[str] = []
    for j, name in enumerate(gt.file_names):
        i: int | None = exact.get(name)
        if i is None:
            found = by_base.get(posixpath.basename(name), [])
            if len(found) > 1:
                raise UserInputError(f"{gt.path}: image {name!r} matches {len(found)} evaluation images by name "
                                     f"({ids[found[0]]!r}, {ids[found[1]]!r}); write file_name as the path "
                                     "inside the data folder")
            i = found[0] if found else None
        if i is None:
            missing.append(name)
        elif i in pairs:
            raise UserInputError(f"{gt.path}: images {gt.file_names[pairs[i]]!r} and {name!r} both match "
                                 f"evaluation image {ids[i]!r}; write file_name as the path inside the data folder")
        else:
            pairs[i] = j
    if missing and not subset:
        raise UserInputError(f"{gt.path}: {len(missing)} of its {len(gt.file_names)} images are not in the "
                             f"evaluation data (e.g. {missing[0]!r}); give --data the annotated images")
    unlisted = [ids[i] for i in range(len(ids)) if i not in pairs]
    return sorted(pairs.items()), unlisted
