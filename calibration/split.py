"""Split evaluation data into a *search* part and a held-out *confirm* part.

A search that picks float layers until a budget holds on some images fits those images: its figure on them
is optimistic. The confirm part, never seen by the search, says what the device will do. The split is
seeded and class-balanced, and it keeps every group whole: images that are crops, flips or augmentations of
one source (``cat_crop2.png``, ``cat_flip.png``, ``cat-aug-3.jpg`` → group ``<class>/cat``) never land on
both sides. A file whose name carries no such marker is its own group (so ``img_001``, ``img_002`` stay
apart); array samples are their own groups.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edgelite.core.errors import UserInputError

# A trailing marker of a derived image: separator, a derivation word, optional separator and number.
_DERIVED = re.compile(r"[-_. ](crop|aug|augment|augmented|flip|flipped|mirror|mirrored|rot|rotated|patch|tile|"
                      r"copy|view|scale|scaled)[-_]?\d*$", re.IGNORECASE)


def group_key(item: object, index: int) -> str:
    """The source an evaluation item derives from: ``<folder>/<stem without derivation markers>``."""
    if isinstance(item, (str, Path)):
        p = Path(item)
        stem = p.stem
        while True:
            base = _DERIVED.sub("", stem)
            if base == stem or not base:
                break
            stem = base
        return f"{p.parent.name}/{stem}"
    return f"#{index}"


def search_confirm(groups: Sequence[str], labels: np.ndarray | None, confirm_fraction: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (search, confirm). Per class, whole groups (in seeded order) go to confirm until it holds about
    ``confirm_fraction`` of the class's samples; each class keeps at least one group on each side when it
    has two."""
    n = len(groups)
    if confirm_fraction <= 0:
        return np.arange(n), np.zeros(0, np.int64)
    rng = np.random.default_rng(seed)
    klass = labels if labels is not None else np.zeros(n, np.int64)
    members: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    confirm: list[int] = []
    for c in np.unique(klass):
        class_groups = sorted({g for i, g in enumerate(groups) if klass[i] == c})
        order = [class_groups[j] for j in rng.permutation(len(class_groups))]
        want = confirm_fraction * sum(len(members[g]) for g in order)
        taken = 0
        for g in order[:-1]:          # the last group always stays with the search (a lone group too)
            if taken >= want:
                break
            confirm.extend(members[g])
            taken += len(members[g])
    confirm_idx = np.asarray(sorted(set(confirm)), np.int64)
    search_idx = np.setdiff1d(np.arange(n), confirm_idx)
    if len(confirm_idx) == 0 or len(search_idx) == 0:
        distinct = len(members)
        raise UserInputError(f"cannot hold out a confirm part: the evaluation data has {n} samples in {distinct} "
                             "source group(s) (crops of one photo count once); add evaluation images of other "
                             "sources, or pass --confirm-fraction 0 to skip the held-out check")
    return search_idx, confirm_idx
