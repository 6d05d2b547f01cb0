import numpy as np

from edgelite.calibration import collect, open_source, sample_order
from edgelite.runtime import PreprocessSpec


def test_order_is_seeded_and_a_permutation():
    a, b, c = sample_order(50, None, 1), sample_order(50, None, 1), sample_order(50, None, 2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert sorted(a) == list(range(50))


def test_any_prefix_is_class_balanced():
    labels = np.array([0] * 30 + [1] * 10 + [2] * 60)
    order = sample_order(len(labels), labels, 0)
    assert sorted(order) == list(range(100))
    first = labels[order[:30]]
    assert np.bincount(first, minlength=3).tolist() == [10, 10, 10]
    # once class 1 runs out, the others keep alternating
    nxt = labels[order[30:70]]
    assert np.bincount(nxt, minlength=3).tolist() == [20, 0, 20]


def test_collect_balanced_from_labelled_folder(example):
    spec = PreprocessSpec(28, 28, color="gray")
    got = collect(open_source(example / "eval"), spec, (28, 28, 1), 40, seed=3)
    assert got.class_counts == dict.fromkeys(range(10), 4)
    again = collect(open_source(example / "eval"), spec, (28, 28, 1), 40, seed=3)
    assert np.array_equal(got.x, again.x) and np.array_equal(got.indices, again.indices)


def test_search_confirm_split_keeps_crops_of_one_source_together_and_balances_classes():
    from edgelite.calibration.split import group_key, search_confirm

    names = [f"/d/{c}/{src}_crop{j}.png" for c in ("cat", "dog") for src in ("a", "b", "c") for j in range(3)]
    groups = [group_key(n, i) for i, n in enumerate(names)]
    labels = np.asarray([0] * 9 + [1] * 9)
    s, c = search_confirm(groups, labels, 1 / 3, seed=0)
    assert len(s) + len(c) == 18 and set(s).isdisjoint(c)
    assert {groups[i] for i in s}.isdisjoint({groups[i] for i in c})        # no source on both sides
    assert set(labels[c]) == {0, 1} and set(labels[s]) == {0, 1}           # every class on both sides
    assert group_key("/d/x/img_001.png", 0) != group_key("/d/x/img_002.png", 1)
    assert group_key("/d/x/lfw050_mirror.png", 0) == group_key("/d/x/lfw050.png", 1)


def test_one_source_cannot_be_split():
    import pytest

    from edgelite.calibration.split import search_confirm
    from edgelite.core.errors import UserInputError

    with pytest.raises(UserInputError, match="--confirm-fraction 0"):
        search_confirm(["x/a"] * 5, None, 1 / 3, seed=0)
