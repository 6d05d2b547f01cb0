"""Property-based tests (Hypothesis) of hostile Open Inference Protocol requests to ``edgelite serve``: whatever
body, binary-extension header or version a client sends to ``…/infer`` (and, for versions, to the metadata, ready
and classify routes) of the example's int8 and float32 MNIST models, the answer is never a 5xx, its body is
strict JSON (no NaN/Infinity literals; for a binary-data answer, its JSON head, with the binary sizes adding up),
and the server afterwards still answers a known-valid request to each model exactly as it did before.

In-process over ``create_app(Repository(repo))`` with its default limits, one fresh app per test: through
Starlette's TestClient, and straight to the ASGI app where a header must arrive as raw bytes."""

from __future__ import annotations

import asyncio
import io
import json
import math
import shutil
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
MODELS = ("mnist", "mnist_f32")          # int8, float32: the same example CNN
DATATYPES = ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32",
             "FP64", "BYTES", "BF16"]
ITEMSIZE = {"BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "FP16": 2, "BF16": 2, "UINT32": 4,
            "INT32": 4, "FP32": 4, "UINT64": 8, "INT64": 8, "FP64": 8}
HEADER = "Inference-Header-Content-Length"


# ---- how a generated body is written --------------------------------------------------------------------------
@dataclass(frozen=True)
class Digits:
    """An integer literal of ``n`` digits: JSON allows any length; Python's int() refuses past 4300 digits."""

    n: int
    digit: str = "9"
    sign: str = ""

    def text(self) -> str:
        return self.sign + self.digit * self.n


@dataclass(frozen=True)
class Raw:
    """A JSON fragment written as it is (lone surrogates, 1e400, -0: what json.dumps never writes)."""

    text: str


@dataclass(frozen=True)
class Real:
    """The model's real input or output name, filled in when the body is written (per model)."""

    kind: str   # "input" | "output"


REAL_INPUT, REAL_OUTPUT = Real("input"), Real("output")


@dataclass(frozen=True)
class Data:
    """An input's ``data``: ``count`` copies of ``fill`` with ``poison`` (index, value) pairs set, written flat or
    nested to ``nest`` (the last innermost list one short when ``ragged``): a compact repr for a long list."""

    fill: Any
    count: int
    poison: tuple[tuple[int, Any], ...] = ()
    nest: tuple[int, ...] | None = None
    ragged: bool = False

    def value(self) -> Any:
        flat = [self.fill] * self.count
        for at, v in self.poison if self.count else ():
            flat[at % self.count] = v
        if self.nest is None:
            return flat
        nested = _nest(flat, list(self.nest))
        if self.ragged and isinstance(nested, list) and nested and isinstance(nested[-1], list) and nested[-1]:
            nested[-1] = nested[-1][:-1]
        return nested


def dumps(obj: Any, names: dict[str, str]) -> str:
    """JSON text of a generated body; floats go out as Python writes them, NaN/Infinity/-Infinity included."""
    if isinstance(obj, Real):
        return json.dumps(names[obj.kind])
    if isinstance(obj, Digits):
        return obj.text()
    if isinstance(obj, Raw):
        return obj.text
    if isinstance(obj, Data):
        return dumps(obj.value(), names)
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v, names)}" for k, v in obj.items()) + "}"
    if isinstance(obj, (list, tuple)):
        return "[" + ",".join(dumps(v, names) for v in obj) + "]"
    return json.dumps(obj)


def _refuse(literal: str) -> Any:
    raise ValueError(f"{literal} is not JSON (RFC 8259 has no NaN/Infinity)")


def strict_json(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8"), parse_constant=_refuse)


# ---- strategies -------------------------------------------------------------------------------------------------
big_ints = st.builds(Digits, st.integers(4301, 6000), st.sampled_from("19"), st.sampled_from(["", "-"]))
raw_fragments = st.sampled_from([Raw('"\\ud800"'), Raw('"a\\udfffb"'), Raw("1e400"), Raw("-1e400"), Raw("-0"),
                                 Raw("1E-400"), Raw("123456789012345678901234567890.5")])
scalars = (st.none() | st.booleans() | st.integers() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
           | big_ints | raw_fragments)
any_json = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5)
                        | st.dictionaries(st.text(max_size=8) | st.sampled_from(["inputs", "outputs", "parameters",
                                                                                 "id", "name", "shape", "data"]),
                                          kids, max_size=5), max_leaves=25)
datatypes = st.sampled_from(["FP32"] * 6 + ["INT8"] * 4 + DATATYPES + ["fp32", "FP8", "", " FP32"]) | any_json
names = st.sampled_from([REAL_INPUT] * 6 + [REAL_OUTPUT, "x", "", "serving_default_image"]) | any_json
values = (st.sampled_from([0, 0.0, 0.5, -1, 1, 127, -128, 128, -129, 255, 256, 1e38, 1e39, -1e39, float("nan"),
                           float("inf"), float("-inf"), 5e-324, True, None, "1", "a", [], {}])
          | st.floats() | st.integers() | big_ints | raw_fragments)
SHAPES = [[1, 28, 28, 1], [0, 28, 28, 1], [2, 28, 28, 1], [1, 784], [784], [1, 28, 28], [1, 14, 56, 1],
          [1, 28, 28, 3], [28, 28, 1], [1, 1, 28, 28, 1], [], [1], [0], [1, 0, 28, 1], [3, 28, 28, 1]]
dims = (st.integers(-3, 30) | st.sampled_from([-1, 0, 2**31, 2**32 + 1, 2**63, 2**64, 10**30, -(2**63)]) | big_ints
        | st.floats() | st.booleans() | st.text(max_size=3) | st.none())
shapes = st.sampled_from(SHAPES) | st.lists(dims, max_size=6) | any_json
MAX_VALUES = 4 * 784


def _product(shape: Any) -> int | None:
    """The element count of a shape of plain non-negative ints, when it is small enough to fill."""
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        return None
    n = math.prod(shape)
    return n if n <= MAX_VALUES else None


def _nest(flat: list[Any], shape: list[int]) -> Any:
    if len(shape) <= 1 or shape[0] == 0:
        return flat
    step = len(flat) // shape[0]
    return [_nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def _rarely(draw: Any) -> bool:
    return draw(st.integers(0, 9)) == 0


@st.composite
def inputs_items(draw: Any) -> Any:
    """One plausible ``inputs`` entry: often the right name, datatype and a shape its data fills."""
    shape = draw(shapes)
    product = _product(shape)
    count = product if product is not None else draw(st.integers(0, 64))
    count = min(MAX_VALUES, max(0, count + draw(st.sampled_from([0] * 6 + [-1, 1, -784, 784]))))
    fill = draw(values)
    poison = tuple((draw(st.integers(0, count - 1)), draw(values)) for _ in range(draw(st.integers(0, 3)))) \
        if count else ()
    form = draw(st.sampled_from(["flat"] * 4 + ["nested"] * 2 + ["ragged", "scalar", "junk"]))
    data: Any = Data(fill, count, poison)
    if form in ("nested", "ragged") and product == count and isinstance(shape, list):
        data = Data(fill, count, poison, tuple(shape), form == "ragged")
    elif form == "scalar":
        data = fill
    elif form == "junk":
        data = draw(any_json)
    item: dict[str, Any] = {"name": draw(names), "shape": shape, "datatype": draw(datatypes), "data": data}
    if _rarely(draw):
        item["parameters"] = draw(st.fixed_dictionaries({"binary_data_size": scalars}) | any_json)
    for key in list(item):
        if _rarely(draw):
            del item[key]
    return item


outputs_lists = st.lists(st.fixed_dictionaries(
    {"name": st.sampled_from([REAL_OUTPUT] * 3 + [REAL_INPUT, "y"]) | any_json},
    optional={"parameters": st.fixed_dictionaries({"binary_data": any_json}) | any_json}), max_size=3) | any_json


@st.composite
def oip_bodies(draw: Any) -> Any:
    """``{"inputs": [...], "outputs": ..., "parameters": {"binary_data_output": ...}, "id": ...}``, each part
    plausible or junk."""
    items = draw(st.lists(inputs_items(), min_size=1, max_size=2) | st.lists(inputs_items(), max_size=0) | any_json)
    body: dict[str, Any] = {"inputs": items}
    if _rarely(draw) or _rarely(draw):
        body["outputs"] = draw(outputs_lists)
    if _rarely(draw) or _rarely(draw):
        body["parameters"] = draw(st.fixed_dictionaries({"binary_data_output": any_json}) | any_json)
    if _rarely(draw):
        body["id"] = draw(any_json)
    return body


VERSIONS = [None] * 6 + ["1", "01", "0", "2", "²", "¹", "١", "٠١", "１", "9" * 5000, "9" * 30, "-1", "1.0", " 1",
                         "1 ", "+1", "0x1", "1e0", "\x00", "%", "1/2"]
versions = st.sampled_from(VERSIONS) | st.text(min_size=1, max_size=6)


@dataclass(frozen=True)
class Binary:
    """A binary-data (Triton extension) request: the JSON ``head``, ``nbytes`` of tensor bytes after it filled
    with ``fill``, and the Inference-Header-Content-Length: an int is an offset from the head's real length,
    bytes are the header's literal value."""

    head: Any
    nbytes: int
    fill: str
    header: int | bytes


FILLS = {"zeros": b"\x00", "ones": b"\x01", "ff": b"\xff", "nan32": b"\x00\x00\xc0\x7f", "inf32": b"\x00\x00\x80\x7f",
         "nan16": b"\x00\x7e", "big64": b"\x00\x00\x00\x00\x00\x00\xf0\x7f"}


def payload(case: Binary) -> bytes:
    if case.fill == "random":
        return np.random.default_rng(case.nbytes).bytes(case.nbytes)
    unit = FILLS[case.fill]
    return (unit * (case.nbytes // len(unit) + 1))[:case.nbytes]


@st.composite
def binary_cases(draw: Any) -> Binary:
    datatype = draw(st.sampled_from(["FP32"] * 5 + ["INT8"] * 3 + DATATYPES) | datatypes)
    shape = draw(st.sampled_from([[1, 28, 28, 1]] * 4 + SHAPES) | shapes)
    count = _product(shape)
    size = (count or 0) * ITEMSIZE.get(datatype, 4) if isinstance(datatype, str) else 0
    nbytes = min(8192, max(0, size + draw(st.sampled_from([0] * 6 + [-1, 1, -4, 4, 3136]))))
    declared = draw(st.sampled_from(["exact"] * 6 + ["other"]))
    binary_size: Any = nbytes if declared == "exact" else draw(scalars | st.integers(-8, 9000))
    item: dict[str, Any] = {"name": draw(names), "shape": shape, "datatype": datatype,
                            "parameters": {"binary_data_size": binary_size}}
    if _rarely(draw):
        item["data"] = draw(any_json)
    head: dict[str, Any] = {"inputs": [item] if not _rarely(draw) else [item, item]}
    if draw(st.booleans()):
        head["parameters"] = {"binary_data_output": draw(st.booleans() | any_json)}
    if _rarely(draw):
        head["outputs"] = draw(outputs_lists)
    header = draw(st.sampled_from([0] * 6 + [1, -1, 10**6, -10**6]) | st.integers(-50, 50) | st.sampled_from(
        [b"\xb2", b"\xb9\xb2", b"\xb3", b"-1", b"", b" 12", b"12 ", b"1e3", b"0x10", b"+5", b"9" * 5000, b"9" * 30,
         "١".encode(), "１".encode(), b"\xc2\xb2", b"0"]))
    return Binary(head, nbytes, draw(st.sampled_from(["zeros"] * 3 + list(FILLS) + ["random"])), header)


raw_bodies = st.one_of(
    st.binary(max_size=400),
    st.text(max_size=200).map(str.encode),
    st.integers(1, 100_000).map(lambda n: b"[" * n),
    st.integers(1, 100_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 20_000).map(lambda n: b'{"inputs":' * n),
    st.integers(1, 30_000).map(lambda n: b'{"inputs":[{"name":"x","datatype":"FP32","shape":' + b"[" * n + b"]" * n
                               + b',"data":[]}]}'),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1" * 5000, b'"\\ud800"', b"\xef\xbb\xbf{}", b"{}", b"[]",
                     b"null", b"0", b'{"inputs":null}', b'{"inputs":[null]}', b"\xff\xfe{\x00}\x00", b"{" * 3]),
)


# ---- the server under test ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def repo(tmp_path_factory, example_models):
    root = tmp_path_factory.mktemp("oip-repo")
    for name, kind in zip(MODELS, ("int8", "float32"), strict=True):
        (root / name / "1").mkdir(parents=True)
        shutil.copy(example_models[kind], root / name / "1" / "model.tflite")
    return root


@pytest.fixture
def client(repo):
    """A fresh server per test (not per example): one example that breaks it must not fail the other tests."""
    from starlette.testclient import TestClient

    from edgelite.serve.app import create_app
    from edgelite.serve.repository import Repository

    with TestClient(create_app(Repository(repo))) as c:
        yield c


class Baselines(dict):
    """Per model: its real tensor names, a known-valid request and the outputs it got before any hostile one."""

    def __repr__(self) -> str:   # Hypothesis prints the fixtures of a falsifying example: keep it short
        return "served"


@pytest.fixture
def served(client) -> Baselines:
    out = Baselines()
    for name in MODELS:
        meta = client.get(f"/v2/models/{name}").json()
        (inp,), (outp,) = meta["inputs"], meta["outputs"]
        valid = {"inputs": [{"name": inp["name"], "shape": [1, 28, 28, 1], "datatype": inp["datatype"],
                             "data": [0] * 784}]}
        r = client.post(f"/v2/models/{name}/infer", json=valid)
        assert r.status_code == 200, r.text
        out[name] = {"names": {"input": inp["name"], "output": outp["name"]}, "valid": valid,
                     "outputs": r.json()["outputs"]}
    assert {m["valid"]["inputs"][0]["datatype"] for m in out.values()} == {"INT8", "FP32"}
    return out


def path_for(model: str, version: str | None, route: str = "infer", *, quoted: bool = True) -> str:
    """The route's path; ``quoted``: for an HTTP client (percent-encoded), else as an ASGI scope holds it."""
    v = quote(version, safe="") if quoted and version is not None else version
    return f"/v2/models/{model}" + (f"/versions/{v}" if version is not None else "") + (f"/{route}" if route else "")


@dataclass
class Answer:
    status_code: int
    headers: dict[str, str]
    content: bytes


def asgi_post(app: Any, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> Answer:
    """One POST straight to the ASGI app, headers as raw bytes: the body in one message, then a disconnect."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": quote(path).encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-length", str(len(body)).encode()), *headers],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    answer = Answer(0, {}, b"")

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status_code = message["status"]
            answer.headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.content += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    assert answer.status_code, f"POST {path[:120]}: the app sent no response"
    return answer


def check_answer(r: Any, what: str) -> Any:
    """A < 500 answer whose body is strict JSON (the head of a binary-data answer); its parsed JSON."""
    assert r.status_code < 500, f"{what} → {r.status_code}: {r.content[:300]!r}"
    raw = r.content
    if r.headers.get("content-type", "").startswith("application/octet-stream"):
        split = r.headers.get(HEADER.lower())
        assert split is not None and split.isascii() and split.isdigit() and int(split) <= len(raw), \
            f"{what} → binary answer with {HEADER} {split!r} for {len(raw)} bytes"
        head = strict_json(raw[:int(split)])
        sizes = [(o.get("parameters") or {}).get("binary_data_size", 0) for o in head.get("outputs", [])]
        assert sum(sizes) == len(raw) - int(split), f"{what} → binary sizes {sizes} for {len(raw) - int(split)} bytes"
        return head
    try:
        body = strict_json(raw)
    except ValueError as exc:
        raise AssertionError(f"{what} → {r.status_code}, not strict JSON ({exc}): {raw[:300]!r}") from None
    if r.status_code >= 400:
        assert isinstance(body, dict) and isinstance(body.get("error"), str), f"{what} → {r.status_code}: {body!r}"
    elif isinstance(body, dict) and "outputs" in body:
        for o in body["outputs"]:
            if "data" in o:
                assert len(o["data"]) == math.prod(o["shape"]), f"{what} → output {o['name']} does not fill its shape"
    return body


def still_serving(client: Any, served: dict[str, dict[str, Any]], what: str) -> None:
    for name, m in served.items():
        r = client.post(f"/v2/models/{name}/infer", json=m["valid"])
        assert r.status_code == 200, f"after {what}: the valid request to {name} → {r.status_code}: {r.text[:300]}"
        assert r.json()["outputs"] == m["outputs"], f"after {what}: {name} answers the valid request differently"


def post(client: Any, served: dict[str, dict[str, Any]], model: str, version: str | None, body: bytes,
         headers: dict[str, Any] | None = None) -> None:
    what = f"POST {path_for(model, version)[:120]} with {len(body)} bytes {body[:160]!r} headers {headers}"
    r = client.post(path_for(model, version), content=body, headers=headers or {"content-type": "application/json"})
    check_answer(r, what)
    still_serving(client, served, what)


# ---- the properties ---------------------------------------------------------------------------------------------
models = st.sampled_from(MODELS)
BATCH0 = {"inputs": [{"name": REAL_INPUT, "shape": [0, 28, 28, 1], "datatype": "FP32", "data": []}]}


@SETTINGS
@given(model=models, version=versions, body=any_json)
@example(model="mnist_f32", version=None, body=[Digits(5000)])
@example(model="mnist", version=None, body={"inputs": [{"name": "x", "shape": [Digits(5000)]}]})
def test_any_json_body_gets_a_strict_json_4xx_or_an_answer(client, served, model, version, body):
    post(client, served, model, version, dumps(body, served[model]["names"]).encode())


@SETTINGS
@given(model=models, version=versions, body=oip_bodies())
@example(model="mnist_f32", version=None, body=BATCH0)
@example(model="mnist", version=None, body=BATCH0)
@example(model="mnist", version=None, body={"inputs": [{**BATCH0["inputs"][0], "datatype": "INT8"}]})
@example(model="mnist_f32", version=None, body={"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": Data(0, 784, ((0, Digits(5000)),))}]})
@example(model="mnist", version=None, body={"inputs": [
    {"name": REAL_INPUT, "shape": [Digits(5000), 28, 28, 1], "datatype": "FP32", "data": Data(0, 784)}]})
@example(model="mnist_f32", version=None, body={"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": Data(float("nan"), 784)}]})
@example(model="mnist_f32", version=None, body={"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": Data(0, 784, ((0, float("inf")),))}]})
@example(model="mnist_f32", version=None, body={"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": Data(Raw("1e400"), 784)}]})
@example(model="mnist", version="²", body={"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "INT8", "data": Data(0, 784)}]})
@example(model="mnist_f32", version="9" * 5000, body={"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "data": Data(0, 784)}]})
def test_plausible_oip_bodies_get_a_strict_json_4xx_or_an_answer(client, served, model, version, body):
    post(client, served, model, version, dumps(body, served[model]["names"]).encode())


@SETTINGS
@given(model=models, version=versions, body=raw_bodies,
       content_type=st.sampled_from(["application/json", "application/octet-stream", "text/plain", ""]))
@example(model="mnist", version=None, body=b"[" * 100_000, content_type="application/json")
@example(model="mnist_f32", version=None, body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
@example(model="mnist_f32", version=None, body=b"1" * 5000, content_type="application/json")
def test_raw_bytes_and_deep_nesting_get_a_strict_json_4xx(client, served, model, version, body, content_type):
    post(client, served, model, version, body, {"content-type": content_type} if content_type else {})


@SETTINGS
@given(model=models, version=versions, case=binary_cases())
@example(model="mnist_f32", version=None, case=Binary({"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}]},
    3136, "zeros", b"\xb2"))
@example(model="mnist_f32", version=None, case=Binary({"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}]},
    3136, "zeros", 10**6))
@example(model="mnist_f32", version=None, case=Binary({"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "FP32", "parameters": {"binary_data_size": 3136}}]},
    3136, "nan32", 0))
@example(model="mnist", version=None, case=Binary({"inputs": [
    {"name": REAL_INPUT, "shape": [1, 28, 28, 1], "datatype": "INT8", "parameters": {"binary_data_size": 784}}],
    "parameters": {"binary_data_output": True}}, 784, "ff", 0))
def test_binary_extension_bodies_get_a_strict_json_4xx_or_an_answer(client, served, model, version, case):
    head = dumps(case.head, served[model]["names"]).encode()
    value = str(len(head) + case.header).encode() if isinstance(case.header, int) else case.header
    body = head + payload(case)
    headers = [(b"content-type", b"application/octet-stream"), (HEADER.lower().encode(), value)]
    what = f"POST {path_for(model, version)[:120]} with {len(body)} bytes {body[:160]!r}, {HEADER} {value[:40]!r}"
    # straight to the ASGI app: the TestClient re-encodes a header's non-ASCII bytes as UTF-8, a real client
    # (and uvicorn) hands them over as they are: b"\xb2" is '²' in the latin-1 an ASGI server decodes with
    check_answer(asgi_post(client.app, path_for(model, version, quoted=False), body, headers), what)
    still_serving(client, served, what)


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (28, 28), 0).save(buf, "PNG")
    return buf.getvalue()


PNG = _png()


@SETTINGS
@given(model=models, version=versions, route=st.sampled_from(["", "ready", "infer", "classify"]))
@example(model="mnist", version="²", route="")
@example(model="mnist", version="²", route="classify")
@example(model="mnist_f32", version="9" * 5000, route="ready")
def test_any_version_in_any_route_gets_a_strict_json_answer(client, served, model, version, route):
    path = path_for(model, version, route)
    what = f"{'GET' if route in ('', 'ready') else 'POST'} {path[:120]}"
    if route in ("", "ready"):
        r = client.get(path)
    elif route == "infer":
        r = client.post(path, json=served[model]["valid"])
    else:
        r = client.post(path, content=PNG, headers={"content-type": "image/png"})
    check_answer(r, what)
    still_serving(client, served, what)
