"""The inference route of ``edgelite serve`` in plain ASGI: ``POST /v2/models/<name>[/versions/<v>]/infer``.

This is the route a client calls thousands of times a second, so it skips Starlette's routing and its
Request/Response objects: ``InferFront`` sends these requests straight to ``InferEndpoint`` and everything
else to the Starlette app (measured on this machine with a trivial handler: 8.3k → 12.7k requests/s). A model
whose ``invoke()`` is sub-millisecond (``Served.inline``) runs on the event loop when its interpreter is free;
anything else runs in the thread pool (LiteRT releases the GIL while it computes).

Every user mistake is a 4xx with OIP's ``{"error": "…"}`` body — malformed JSON, unknown model or version, wrong
datatype or shape, a body over ``max_body`` bytes — never a traceback; the same mapping serves the Starlette
routes (``error_reply``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.concurrency import run_in_threadpool

from edgelite.core.errors import UserInputError
from edgelite.runtime.drift import WARN_PSI
from edgelite.runtime.model import Model
from edgelite.serve import protocol
from edgelite.serve.asgi import ASGIApp, Receive, Scope, Send
from edgelite.serve.capture import Capture
from edgelite.serve.metrics import Metrics
from edgelite.serve.repository import Overloaded, Repository, Served

log = logging.getLogger("edgelite.serve")

HEADER_LENGTH = b"inference-header-content-length"   # Triton's binary-data extension
INFER_PATH = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?/infer")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


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
    return Reply(status, json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode())


def error_reply(exc: Exception) -> Reply | None:
    """The 4xx/503 answer to an exception a request can cause, or None for anything else (a bug: 500)."""
    if isinstance(exc, HttpError):
        return json_reply({"error": str(exc)}, exc.status)
    if isinstance(exc, Overloaded):
        return Reply(503, json_reply({"error": str(exc)}).body, headers=((b"retry-after", b"1"),))
    if isinstance(exc, LookupError):
        return json_reply({"error": str(exc.args[0]) if exc.args else "not found"}, 404)
    if isinstance(exc, (protocol.ProtocolError, UserInputError)):
        return json_reply({"error": str(exc)}, 400)
    return None


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def check_declared(scope: Scope, cap: int) -> None:
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise HttpError(413, f"request body of {declared} bytes is over the {cap}-byte limit (--max-body)")


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
            raise HttpError(413, f"request body is over the {cap}-byte limit (--max-body)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def split_body(scope: Scope, raw: bytes) -> tuple[Any, bytes]:
    """(JSON part, binary tensor bytes) of an OIP request body."""
    split = header(scope, HEADER_LENGTH)
    if split is not None and (not split.isdigit() or int(split) > len(raw)):
        raise HttpError(400, f"Inference-Header-Content-Length {split!r} does not fit the {len(raw)}-byte body")
    head, binary = (raw[:int(split)], raw[int(split):]) if split is not None else (raw, b"")
    try:
        return json.loads(head), binary
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"request body is not valid JSON ({exc})") from None


def observe(served: Served, x: np.ndarray, outputs: np.ndarray, capture: Capture | None = None) -> None:
    """Feed one request's model-ready input and first output (both batch first) to the model's drift monitor
    and the sampled capture; log a drift crossing."""
    monitor = served.drift
    if monitor is None and capture is None:
        return
    inp = served.model.input
    quantized = x.dtype.kind in "iu" and inp.quantized
    if capture is not None and capture.take():
        values = inp.dequantize(x) if quantized else x.astype(np.float32, copy=False)
        capture.save(served.name, served.version, values, outputs)
    if monitor is None:
        return
    monitor.update(x, outputs, quantization=(inp.scale, inp.zero_point) if quantized else None)
    crossed = monitor.crossed()
    if crossed is not None:
        log.warning("drift: model %s version %s: PSI input %s, predictions %s over the last %d requests "
                    "(> %.2f: live data has moved from the calibration data)", served.name, served.version,
                    _fmt(crossed.input_psi), _fmt(crossed.prediction_psi), crossed.samples, WARN_PSI)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def infer(served: Served, body: Any, binary: bytes = b"", metrics: Metrics | None = None,
          capture: Capture | None = None, *, held: Model | None = None) -> Reply:
    """One OIP inference request on ``served``. ``held``: an interpreter the caller already took (the inline
    path), else one is waited for (blocking: the thread pool's). The interpreter is given back as soon as
    ``run`` returns — drift, capture and the response are built off it, so the next request's ``invoke()``
    overlaps them."""
    t0 = time.perf_counter()
    try:
        arrays = protocol.parse_inputs(body, served.model.inputs, binary)
        wanted = protocol.requested_outputs(body, served.model.outputs)
    except BaseException:
        if held is not None:
            served.release(held)
        raise
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
        metrics.observe(served.name, queue_s=t2 - t1, preprocess_s=(t1 - t0) + (t3 - t2 - invoke_s),
                        inference_s=invoke_s)
    if single:
        observe(served, next(iter(arrays.values())), outputs[m.outputs[0].name], capture)
    entries, chunks = [], []
    for name, as_binary in wanted:
        entry, raw = protocol.output_tensor(name, outputs[name], as_binary)
        entries.append(entry)
        chunks.append(raw)
    response: dict[str, Any] = {"model_name": served.name, "model_version": str(served.version), "outputs": entries}
    if isinstance(body.get("id"), str):
        response["id"] = body["id"]
    head = json.dumps(response, separators=(",", ":")).encode()
    if not any(chunks):
        return Reply(200, head)
    return Reply(200, head + b"".join(chunks), b"application/octet-stream",
                 ((HEADER_LENGTH, str(len(head)).encode()),))


class InferEndpoint:
    """``POST …/infer`` as an ASGI app: the Starlette route's endpoint (path parameters in the scope) and
    ``InferFront``'s target (``handle`` with the name and version it matched)."""

    def __init__(self, repo: Repository, metrics: Metrics, capture: Capture | None, max_body: int) -> None:
        self.repo, self.metrics, self.capture, self.max_body = repo, metrics, capture, max_body

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
            body, binary = split_body(scope, await read_body(scope, receive, self.max_body))
            model = served.acquire(wait=False) if served.inline else None
            if model is None:
                reply = await run_in_threadpool(infer, served, body, binary, self.metrics, self.capture)
            else:   # a sub-millisecond model with a free interpreter: no hop to the thread pool and back
                reply = infer(served, body, binary, self.metrics, self.capture, held=model)
        except ClientGone:
            pass   # counted as 499 (nginx's "client closed request"); nothing to send
        except Exception as exc:   # mapped to a 4xx here; anything unexpected is logged and answered 500
            reply = error_reply(exc)
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
