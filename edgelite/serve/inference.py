"""The inference route of ``edgelite serve`` in plain ASGI: ``POST /v2/models/<name>[/versions/<v>]/infer``.

This is the route a client calls thousands of times a second, so it skips Starlette's routing and its
Request/Response objects: ``InferFront`` sends these requests straight to ``InferEndpoint`` and everything
else to the Starlette app (measured on this machine with a trivial handler: 8.3k → 12.7k requests/s). A model
whose ``invoke()`` is sub-millisecond (``Served.inline``) runs on the event loop when its interpreter is free;
anything else runs in the thread pool (LiteRT releases the GIL while it computes).

Every user mistake is a 4xx with OIP's ``{"error": "…"}`` body — malformed JSON, unknown model or version, wrong
datatype or shape, a body over ``max_body`` bytes — never a traceback; the same mapping serves the Starlette
routes (``error_reply``). Error bodies name models and versions, never server paths (``Repository.public``).
A request that fails inside the interpreter leaves it as it was, or it is replaced (``Served.release``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from edgelite.core.errors import UserInputError
from edgelite.core.limits import ascii_uint
from edgelite.runtime.drift import WARN_PSI
from edgelite.runtime.model import Model
from edgelite.serve import protocol
from edgelite.serve.admission import CLOSE, HttpError, WorkMemory
from edgelite.serve.asgi import ASGIApp, Receive, Scope, Send
from edgelite.serve.capture import Capture
from edgelite.serve.limits import JSON_EXPANSION, ServeLimits
from edgelite.serve.metrics import Metrics
from edgelite.serve.repository import Overloaded, Repository, Served

log = logging.getLogger("edgelite.serve")

HEADER_LENGTH = b"inference-header-content-length"   # Triton's binary-data extension
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


class ClientGone(Exception):
    """The client closed the connection before its body arrived: nothing to answer."""


@dataclass(frozen=True)
class Reply:
    """A whole HTTP response: status, body and headers, sent in two ASGI messages."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": [(b"content-type", self.content_type),
                                (b"content-length", str(len(self.body)).encode()), *self.headers]})
        await send({"type": "http.response.body", "body": self.body})


def json_reply(obj: Any, status: int = 200) -> Reply:
    # allow_nan=False: a NaN that slipped past json_safe is a 500 (a bug), never a body no parser accepts
    return Reply(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode())


def error_reply(exc: Exception, public: Callable[[str], str] = str) -> Reply | None:
    """The 4xx/503 answer to an exception a request can cause, or None for anything else (a bug: 500).
    ``public``: text → text with server paths replaced by model names (``Repository.public``)."""
    from starlette.exceptions import HTTPException

    if isinstance(exc, HttpError):
        return Reply(exc.status, json_reply({"error": public(str(exc))}).body, headers=exc.headers)
    if isinstance(exc, Overloaded):
        return Reply(503, json_reply({"error": str(exc)}).body, headers=((b"retry-after", b"1"),))
    if isinstance(exc, (protocol.ProtocolError, UserInputError)):
        return json_reply({"error": public(str(exc))}, 400)
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:   # Starlette's own (multipart forms)
        return json_reply({"error": f"{exc.detail}"}, exc.status_code)
    if type(exc) is LookupError:   # the repository's: unknown model or version (a KeyError elsewhere is a bug)
        return json_reply({"error": public(str(exc.args[0])) if exc.args else "not found"}, 404)
    return None


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def only_header(scope: Scope, name: bytes) -> str | None:
    """The one value of header ``name`` (None when absent); sent twice, it is refused: which one counts would
    depend on who reads it."""
    values = [v for k, v in scope["headers"] if k == name]
    if len(values) > 1:
        raise HttpError(400, f"header {name.decode()} is sent {len(values)} times; send it once")
    return str(values[0].decode("latin-1")) if values else None


def check_declared(scope: Scope, cap: int) -> None:
    declared = header(scope, b"content-length")
    if declared is not None and (len(declared) > 18 or (ascii_uint(declared) or 0) > cap):
        raise HttpError(413, f"request body of {declared[:20]} bytes is over the {cap}-byte limit (--max-body)",
                        CLOSE)


async def read_body(scope: Scope, receive: Receive, cap: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``cap`` bytes: declared or streamed."""
    check_declared(scope, cap)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            raise HttpError(413, f"request body is over the {cap}-byte limit (--max-body)", CLOSE)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def split_body(scope: Scope, raw: bytes) -> tuple[bytes, bytes]:
    """(JSON part, binary tensor bytes) of an OIP request body (Triton's Inference-Header-Content-Length)."""
    split = only_header(scope, HEADER_LENGTH)
    if split is None:
        return raw, b""
    at = ascii_uint(split)
    if at is None or at > len(raw):
        raise HttpError(400, f"Inference-Header-Content-Length {split[:20]!r} does not fit the {len(raw)}-byte body")
    return raw[:at], raw[at:]


async def parse_infer(work: WorkMemory, scope: Scope, raw: bytes, served: Served, max_batch: int
                      ) -> protocol.InferRequest:
    """An OIP request body parsed for ``served``'s model; a large JSON part is parsed in the thread pool
    under working memory reserved for its Python objects (serve/admission.py)."""
    head, binary = split_body(scope, raw)
    m = served.model
    return await work.run(len(head) * JSON_EXPANSION,
                          lambda: protocol.infer_request(head, binary, m.inputs, m.outputs, max_batch=max_batch))


def observe(served: Served, x: np.ndarray, outputs: np.ndarray | dict[str, np.ndarray],
            capture: Capture | None = None) -> None:
    """Feed one request's model-ready input and its outputs (batch first; every output by name, or the first
    one) to the model's drift monitor (a detector's reads them all) and the sampled capture (the first
    output); log a drift crossing."""
    monitor = served.drift
    if monitor is None and capture is None:
        return
    first = outputs[served.model.outputs[0].name] if isinstance(outputs, dict) else outputs
    inp = served.model.input
    quantized = x.dtype.kind in "iu" and inp.quantized
    if capture is not None and capture.take():
        values = inp.dequantize(x) if quantized else x.astype(np.float32, copy=False)
        capture.save(served.name, served.version, values, first)
    if monitor is None:
        return
    monitor.update(x, outputs, quantization=(inp.scale, inp.zero_point) if quantized else None)
    crossed = monitor.crossed()
    if crossed is not None:
        shown = ", ".join(f"{k} {_fmt(v)}" for k, v in crossed.psis().items() if k not in ("input", "prediction"))
        log.warning("drift: model %s version %s: PSI input %s, predictions %s%s over the last %d requests "
                    "(> %.2f: live data has moved from the calibration data)", served.name, served.version,
                    _fmt(crossed.input_psi), _fmt(crossed.prediction_psi), f", {shown}" if shown else "",
                    crossed.samples, WARN_PSI)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def infer(served: Served, request: protocol.InferRequest, metrics: Metrics | None = None,
          capture: Capture | None = None, *, held: Model | None = None, parse_s: float = 0.0) -> Reply:
    """One parsed OIP inference request on ``served``. ``held``: an interpreter the caller already took (the
    inline path), else one is waited for (blocking: the thread pool's). The interpreter is given back as soon
    as ``run`` returns — drift, capture and the response are built off it, so the next request's ``invoke()``
    overlaps them. ``parse_s``: the time parsing took (reported as preprocessing)."""
    arrays = request.arrays
    t1 = time.perf_counter()
    model = held if held is not None else served.acquire()   # the wait is the queue time
    assert model is not None
    t2 = time.perf_counter()
    m = served.model
    single = len(m.inputs) == 1
    busy = metrics.busy_gauge(served.name) if metrics is not None else None
    if busy is not None:
        busy.inc()
    try:
        outputs = model.run(next(iter(arrays.values())) if single else arrays)
        invoke_s = model.last_invoke_s
    finally:
        served.release(model)
        if busy is not None:
            busy.dec()
    t3 = time.perf_counter()
    if metrics is not None:
        metrics.observe(served.name, queue_s=t2 - t1, preprocess_s=parse_s + (t3 - t2 - invoke_s),
                        inference_s=invoke_s)
    if single:
        # drift watches the first input (what the converter's reference statistics describe)
        observe(served, arrays.get(m.inputs[0].name, next(iter(arrays.values()))), outputs, capture)
    entries, chunks = [], []
    for name, as_binary in request.wanted:
        entry, raw = protocol.output_tensor(name, outputs[name], as_binary)
        entries.append(entry)
        chunks.append(raw)
    response: dict[str, Any] = {"model_name": served.name, "model_version": str(served.version), "outputs": entries}
    if request.id is not None:
        response["id"] = request.id
    head = json.dumps(response, separators=(",", ":"), allow_nan=False).encode()
    if not any(chunks):
        return Reply(200, head)
    return Reply(200, head + b"".join(chunks), b"application/octet-stream",
                 ((HEADER_LENGTH, str(len(head)).encode()),))


class InferEndpoint:
    """``POST …/infer`` as an ASGI app: the Starlette route's endpoint (path parameters in the scope) and
    ``InferFront``'s target (``handle`` with the name and version it matched)."""

    def __init__(self, repo: Repository, metrics: Metrics, capture: Capture | None, limits: ServeLimits,
                 work: WorkMemory) -> None:
        self.repo, self.metrics, self.capture, self.limits, self.work = repo, metrics, capture, limits, work

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        params = scope.get("path_params", {})
        await self.handle(scope, receive, send, params["name"], params.get("version"))

    async def handle(self, scope: Scope, receive: Receive, send: Send, name: str, version: str | None) -> None:
        # only served names become label values: a client must not grow the metrics without bound
        label, served_version = (name if name in self.repo else "_unknown"), ""
        reply: Reply | None = None
        try:
            served = self.repo.get(name, version)
            served_version = str(served.version)
            raw = await read_body(scope, receive, self.limits.max_body)
            t0 = time.perf_counter()
            request = await parse_infer(self.work, scope, raw, served, self.limits.max_batch)
            parse_s = time.perf_counter() - t0
            model = served.acquire(wait=False) if served.inline else None
            if model is None:
                reply = await run_in_threadpool(infer, served, request, self.metrics, self.capture, parse_s=parse_s)
            else:   # a sub-millisecond model with a free interpreter: no hop to the thread pool and back
                reply = infer(served, request, self.metrics, self.capture, held=model, parse_s=parse_s)
        except ClientGone:
            pass   # counted as 499 (nginx's "client closed request"); nothing to send
        except Exception as exc:   # mapped to a 4xx here; anything unexpected is logged and answered 500
            reply = error_reply(exc, self.repo.public)
            if reply is None:
                log.exception("internal error on POST %s", scope["path"])
                reply = json_reply({"error": "internal error; see the server log"}, 500)
        finally:
            self.metrics.count(label, served_version, reply.status if reply is not None else 499)
        if reply is not None:
            await reply.send(send)


class InferFront:
    """ASGI: ``POST …/infer`` straight to the endpoint, everything else to ``app`` (the Starlette routes)."""

    def __init__(self, app: ASGIApp, endpoint: InferEndpoint) -> None:
        self.app, self.endpoint = app, endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = INFER_PATH.fullmatch(scope["path"])
            if match is not None:
                await self.endpoint.handle(scope, receive, send, match.group(1), match.group(2))
                return
        await self.app(scope, receive, send)
