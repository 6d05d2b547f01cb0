"""The one strict reader (edgelite.core.validate) that the check config, the baseline and saved reports share:
unknown keys, missing keys, wrong types and non-finite numbers are one-line errors naming the file and key."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from edgelite.core import validate
from edgelite.core.errors import UserInputError
from edgelite.core.report import LatencyStats, Record, Report


@dataclass(frozen=True)
class Inner(Record):
    ratio: float
    note: str | None = None


@dataclass(frozen=True)
class Outer(Report):
    kind = "outer"
    schema_version = 3

    name: str
    count: int
    inner: Inner
    items: list[Inner] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    span: tuple[float, float] | None = None
    latency: LatencyStats | None = None


def _outer() -> Outer:
    return Outer(name="a", count=2, inner=Inner(0.5), items=[Inner(1.0, "x")], counts={3: 4, 10: 1},
                 span=(0.25, 0.75), latency=LatencyStats(1.0, 2.0, 2.0, 3.0, 4.0, 0.5))


def test_a_report_round_trips_exactly_dict_int_keys_and_tuples_included():
    r = _outer()
    text = r.to_json()
    assert json.loads(text)["counts"] == {"3": 4, "10": 1}   # JSON object keys are strings
    assert Outer.from_json(text) == r


@pytest.mark.parametrize("edit, words", [
    (lambda d: d.update(colour=1), "colour: unknown key (known: "),
    (lambda d: d["inner"].update(ratoi=1), "inner.ratoi: unknown key"),
    (lambda d: d.pop("count"), "count: required key missing"),
    (lambda d: d.update(count="2"), "count: expected an integer, got '2'"),
    (lambda d: d.update(count=2.0), "count: expected an integer, got 2.0"),
    (lambda d: d.update(count=True), "count: expected an integer, got True"),
    (lambda d: d["inner"].update(ratio=None), "inner.ratio: expected a number, got None"),
    (lambda d: d["inner"].update(note=3), "inner.note: expected a string or null, got 3"),
    (lambda d: d.update(inner=[1]), "inner: expected a table, got [1]"),
    (lambda d: d["items"][0].update(ratio="1"), "items[0].ratio: expected a number, got '1'"),
    (lambda d: d.update(items={}), "items: expected a list of tables, got {}"),
    (lambda d: d["counts"].update(x=1), "counts.x: expected a whole-number key, got 'x'"),
    (lambda d: d.update(span=[1.0]), "span: expected a list of 2 values, got 1"),
    (lambda d: d["latency"].update(p99="slow"), "latency.p99: expected a number, got 'slow'"),
])
def test_report_json_is_read_strictly_naming_file_and_key(edit, words):
    data = json.loads(_outer().to_json())
    edit(data)
    with pytest.raises(UserInputError) as err:
        Outer.from_json(json.dumps(data), file="r.json")
    msg = str(err.value)
    assert msg.startswith(f"r.json: {words}") and "\n" not in msg, msg


def test_report_kind_version_and_garbage_are_refused_with_the_file():
    with pytest.raises(UserInputError, match=r"^r\.json: not a outer report \(kind='bench'\)"):
        Outer.from_json('{"kind": "bench"}', file="r.json")
    with pytest.raises(UserInputError, match="schema_version 2, this edgelite reads 3"):
        Outer.from_json(_outer().to_json().replace('"schema_version": 3', '"schema_version": 2'))
    with pytest.raises(UserInputError, match=r"^r\.json: not a JSON report"):
        Outer.from_json("{nope", file="r.json")
    with pytest.raises(UserInputError, match="not a outer report"):
        Outer.from_json("[1, 2]")


@dataclass(frozen=True)
class Table:
    limit: float | None = None
    size: int = 1
    path: Path | None = None
    names: list[str] = field(default_factory=list)


def test_toml_style_reading_refuses_non_finite_and_empty_paths_and_offers_no_null():
    build = {"file": "edgelite.toml", "key": "models[0]", "finite": True, "nulls": False}
    assert validate.build(Table, {"limit": 2, "path": "a/b", "names": ["x"]}, **build) == \
        Table(limit=2.0, path=Path("a/b"), names=["x"])
    assert isinstance(validate.build(Table, {"limit": 2}, **build).limit, float)
    for table, words in [({"limit": math.nan}, "models[0].limit: expected a finite number, got nan"),
                         ({"limit": "1"}, "models[0].limit: expected a number, got '1'"),
                         ({"path": ""}, "models[0].path: expected a path string, got ''"),
                         ({"names": ["x", 1]}, "models[0].names[1]: expected a string, got 1"),
                         ({"names": "x"}, "models[0].names: expected a list of strings, got 'x'")]:
        with pytest.raises(UserInputError) as err:
            validate.build(Table, table, **build)
        assert str(err.value) == f"edgelite.toml: {words}"
    with pytest.raises(UserInputError, match=r"^edgelite.toml: models\[0\]: expected a table, got 3$"):
        validate.build(Table, 3, **build)
    # reports keep nan (a latency over no runs is nan), only the config refuses it
    assert math.isnan(validate.build(Table, {"limit": math.nan}).limit)
