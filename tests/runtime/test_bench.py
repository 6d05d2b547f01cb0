import json

import numpy as np
import pytest

from edgelite.errors import UserInputError
from edgelite.runtime import BenchReport, benchmark
from edgelite.runtime.bench import parse_threads, random_input
from edgelite.runtime.model import TensorInfo


def test_bench_report_per_thread_count(example_models):
    r = benchmark(example_models["int8"], threads=[1, 2], runs=20, warmup=3)
    assert [res["threads"] for res in r.results] == [1, 2]
    for res in r.results:
        lat = res["latency_ms"]
        assert 0 < lat["min"] <= lat["median"] <= lat["p90"] <= lat["p99"]
        assert res["runs"] == 20 and res["init_ms"] > 0
    assert r.backend == "litert" and r.backend_version
    assert r.device["arch"] and r.device["cores"] >= 1 and isinstance(r.device["simd"], list)
    again = BenchReport.from_json(r.to_json())
    assert again == r
    assert json.loads(r.to_json())["schema_version"] == 1


def test_random_input_covers_dtype_range():
    t = TensorInfo("x", 0, (1, 1000), (1, 1000), np.dtype(np.int8), 0.1, 0)
    x = random_input(t)
    assert x.dtype == np.int8 and x.min() == -128 and x.max() == 127
    assert np.array_equal(x, random_input(t))


@pytest.mark.parametrize("kwargs, needle", [({"runs": 0}, "--runs"), ({"warmup": -1}, "--warmup"),
                                            ({"threads": [0]}, "--threads")])
def test_bad_bench_args(example_models, kwargs, needle):
    with pytest.raises(UserInputError, match=needle):
        benchmark(example_models["int8"], **kwargs)


def test_parse_threads():
    assert parse_threads("1,2,4") == [1, 2, 4]
    with pytest.raises(UserInputError):
        parse_threads("one")
