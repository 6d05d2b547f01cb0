"""The HTTP application of ``edgelite serve``: Open Inference Protocol routes over a ``Repository`` (Starlette).

Inference runs in Starlette's thread pool (LiteRT releases the GIL while it computes); each served model's
interpreter is used by one request at a time (``Model`` locks it). Every user mistake is a 4xx with OIP's
``{"error": "…"}`` body — malformed JSON, unknown model or version, wrong datatype or shape, a body over
``max_body`` bytes — never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgelite.core.errors import UserInputError
from edgelite.core.version import __version__
from edgelite.runtime.drift import WARN_PSI
from edgelite.serve import protocol
from edgelite.serve.capture import Capture
from edgelite.serve.metrics import Metrics
from edgelite.serve.middleware import AccessLog, BearerToken
from edgelite.serve.repository import Overloaded, Repository, Served

MAX_BODY = 16 * 1024 * 1024   # default --max-body: a 224×224×3 float tensor as JSON text is ~3 MB
log = logging.getLogger("edgelite.serve")


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


HEADER_LENGTH = "inference-header-content-length"   # Triton's binary-data extension


def _check_declared(request: Request, cap: int) -> None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > cap:
        raise HttpError(413, f"request body of {declared} bytes is over the {cap}-byte limit (--max-body)")


async def _read_capped(request: Request, cap: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``cap`` bytes: declared or streamed."""
    _check_declared(request, cap)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise HttpError(413, f"request body is over the {cap}-byte limit (--max-body)")
        chunks.append(chunk)
    return b"".join(chunks)


async def _body(request: Request, cap: int) -> tuple[Any, bytes]:
    """(JSON part, binary tensor bytes) of a request body read up to ``cap`` bytes."""
    raw = await _read_capped(request, cap)
    split = request.headers.get(HEADER_LENGTH)
    if split is not None and (not split.isdigit() or int(split) > len(raw)):
        raise HttpError(400, f"Inference-Header-Content-Length {split!r} does not fit the {len(raw)}-byte body")
    head, binary = (raw[:int(split)], raw[int(split):]) if split is not None else (raw, b"")
    try:
        return json.loads(head), binary
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpError(400, f"request body is not valid JSON ({exc})") from None


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(handler: Handler) -> Handler:
    """Map the errors a request can cause to 4xx responses; anything else is a logged 500."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except HttpError as exc:
            return _error(exc.status, str(exc))
        except Overloaded as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "1"})
        except LookupError as exc:
            return _error(404, str(exc.args[0]) if exc.args else "not found")
        except (protocol.ProtocolError, UserInputError) as exc:
            return _error(400, str(exc))
        except Exception:
            log.exception("internal error on %s %s", request.method, request.url.path)
            return _error(500, "internal error; see the server log")
    return wrapped


def _served(repo: Repository, request: Request) -> Served:
    params = request.path_params
    return repo.get(params["name"], params.get("version"))


def model_metadata(served: Served, versions: list[int]) -> dict[str, Any]:
    m = served.model
    return {"name": served.name, "versions": [str(v) for v in versions], "platform": "tflite",
            "inputs": [protocol.tensor_metadata(t, output=False) for t in m.inputs],
            "outputs": [protocol.tensor_metadata(t, output=True) for t in m.outputs]}


def observe(served: Served, x: np.ndarray, outputs: np.ndarray, capture: Capture | None = None) -> None:
    """Feed one request's model-ready input and first output (both batch first) to the model's drift monitor
    and the sampled capture; log a drift crossing."""
    monitor = served.drift
    if monitor is None and capture is None:
        return
    inp = served.model.input
    values = inp.dequantize(x) if x.dtype.kind in "iu" and inp.quantized else x.astype(np.float32, copy=False)
    if capture is not None:
        capture.offer(served.name, served.version, values, outputs)
    if monitor is None:
        return
    monitor.update(values, outputs)
    crossed = monitor.crossed()
    if crossed is not None:
        log.warning("drift: model %s version %s: PSI input %s, predictions %s over the last %d requests "
                    "(> %.2f: live data has moved from the calibration data)", served.name, served.version,
                    _fmt(crossed.input_psi), _fmt(crossed.prediction_psi), crossed.samples, WARN_PSI)


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}"


def infer(served: Served, body: Any, binary: bytes = b"", metrics: Metrics | None = None,
          capture: Capture | None = None) -> Response:
    """One OIP inference request on ``served`` (blocking: runs in the thread pool)."""
    m = served.model
    t0 = time.perf_counter()
    arrays = protocol.parse_inputs(body, m.inputs, binary)
    wanted = protocol.requested_outputs(body, m.outputs)
    single = len(m.inputs) == 1
    t1 = time.perf_counter()
    with served.instance() as model:   # one request per interpreter; the wait is the queue time
        t2 = time.perf_counter()
        if metrics is not None:
            metrics.busy.labels(served.name).inc()
        try:
            outputs = model.run(next(iter(arrays.values())) if single else arrays)
            invoke_s = model.last_invoke_s
        finally:
            if metrics is not None:
                metrics.busy.labels(served.name).dec()
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
        return Response(head, media_type="application/json")
    return Response(head + b"".join(chunks), media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(len(head))})


MAX_TOP_K = 1000


def classify(served: Served, data: bytes, top_k: int) -> dict[str, Any]:
    """Top-k labels for one encoded image, preprocessed by the spec inside the file (the code path of ``run``)."""
    from edgelite.calibration.preprocess import decode_image
    from edgelite.core.errors import UnreadableImageError

    try:
        image = decode_image(data, "request body")
    except UnreadableImageError as exc:
        raise HttpError(400, str(exc)) from None
    with served.instance() as model:
        x = model.prepare(image)   # the spec inside the file: the path `run` takes
        scores = model.predict(x)
    observe(served, x, scores)
    top = served.model.top_labels(scores[0], top_k)
    return {"model_name": served.name, "model_version": str(served.version),
            "classes": [{"label": label, "score": score} for label, score in top]}


async def _image_bytes(request: Request, cap: int) -> bytes:
    """The image of a classify request: the raw body, or the first file of a multipart form."""
    _check_declared(request, cap)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=8, max_part_size=cap) as form:
            for value in form.values():
                if not isinstance(value, str):
                    data = await value.read(cap + 1)
                    if len(data) > cap:
                        raise HttpError(413, f"uploaded file is over the {cap}-byte limit (--max-body)")
                    return bytes(data)
        raise HttpError(400, "multipart form holds no file; send the image as a file field or as the raw body")
    raw = await _read_capped(request, cap)
    if not raw:
        raise HttpError(400, "empty body: send an encoded image (PNG, JPEG, …)")
    return raw


def create_app(repo: Repository, *, max_body: int = MAX_BODY, poll_seconds: float = 0.0,
               metrics: Metrics | None = None, token: str | None = None,
               access_log: Callable[[str], None] | None = None, repository_api: bool = False,
               capture: Capture | None = None) -> Starlette:
    """The Starlette application serving ``repo``; with ``poll_seconds`` > 0 a background thread polls REPO
    for new versions while it runs. ``token``: a bearer token every route but health requires;
    ``access_log``: receives one JSON line per request; ``repository_api``: Triton's load/unload/index."""
    stats = metrics or Metrics()
    stats.watch_drift(lambda: list(repo))
    for served in repo:
        stats.loads.labels(served.name).inc()
    for name, _ in repo.refused:
        stats.refusals.labels(name).inc()

    def on_event(kind: str, name: str) -> None:
        (stats.loads if kind == "load" else stats.refusals).labels(name).inc()

    repo.on_event = on_event

    async def live(request: Request) -> Response:
        return JSONResponse({"live": True})

    async def ready(request: Request) -> Response:
        return JSONResponse({"ready": True})

    async def server(request: Request) -> Response:
        return JSONResponse({"name": "edgelite", "version": __version__, "extensions": []})

    async def metadata(request: Request) -> Response:
        served = _served(repo, request)
        return JSONResponse(model_metadata(served, repo.versions(served.name)))

    async def model_ready(request: Request) -> Response:
        served = _served(repo, request)
        return JSONResponse({"name": served.name, "version": str(served.version), "ready": True})

    async def infer_route(request: Request) -> Response:
        name = request.path_params["name"]
        # only served names become label values: a client must not grow the metrics without bound
        label, version, status = (name if name in repo else "_unknown"), "", 500
        try:
            served = _served(repo, request)
            version = str(served.version)
            body, binary = await _body(request, max_body)
            response = await run_in_threadpool(infer, served, body, binary, stats, capture)
            status = response.status_code
            return response
        except HttpError as exc:
            status = exc.status
            raise
        except LookupError:
            status = 404
            raise
        except Overloaded:
            status = 503
            raise
        except (protocol.ProtocolError, UserInputError):
            status = 400
            raise
        finally:
            stats.requests.labels(label, version, str(status)).inc()

    async def classify_route(request: Request) -> Response:
        served = _served(repo, request)
        raw_k = request.query_params.get("top_k", "5")
        if not raw_k.isdigit() or not 1 <= int(raw_k) <= MAX_TOP_K:
            raise HttpError(400, f"top_k must be an integer 1-{MAX_TOP_K}, got {raw_k!r}")
        data = await _image_bytes(request, max_body)
        return JSONResponse(await run_in_threadpool(classify, served, data, int(raw_k)))

    async def predict_route(request: Request) -> Response:
        from edgelite.serve.tfserving import predict

        served = _served(repo, request)
        body, binary = await _body(request, max_body)
        if binary:
            raise HttpError(400, "TensorFlow Serving's predict API takes JSON only")
        return JSONResponse(await run_in_threadpool(predict, served, body))

    async def repo_index(request: Request) -> Response:
        return JSONResponse(repo.index())

    async def repo_load(request: Request) -> Response:
        await run_in_threadpool(repo.load, request.path_params["name"])
        return JSONResponse({})

    async def repo_unload(request: Request) -> Response:
        repo.unload(request.path_params["name"])
        return JSONResponse({})

    async def metrics_route(request: Request) -> Response:
        return Response(generate_latest(stats.registry), media_type=CONTENT_TYPE_LATEST)

    def route(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(path, _guarded(handler), methods=methods)

    routes = [
        route("/v2/health/live", live, ["GET"]),
        route("/v2/health/ready", ready, ["GET"]),
        route("/v2", server, ["GET"]),
        route("/v2/models/{name}", metadata, ["GET"]),
        route("/v2/models/{name}/versions/{version}", metadata, ["GET"]),
        route("/v2/models/{name}/ready", model_ready, ["GET"]),
        route("/v2/models/{name}/versions/{version}/ready", model_ready, ["GET"]),
        route("/v2/models/{name}/infer", infer_route, ["POST"]),
        route("/v2/models/{name}/versions/{version}/infer", infer_route, ["POST"]),
        route("/v2/models/{name}/classify", classify_route, ["POST"]),
        route("/v2/models/{name}/versions/{version}/classify", classify_route, ["POST"]),
        route("/v1/models/{name}:predict", predict_route, ["POST"]),
        route("/v1/models/{name}/versions/{version}:predict", predict_route, ["POST"]),
        route("/metrics", metrics_route, ["GET"]),
    ]
    if repository_api:
        routes += [route("/v2/repository/index", repo_index, ["POST"]),
                   route("/v2/repository/models/{name}/load", repo_load, ["POST"]),
                   route("/v2/repository/models/{name}/unload", repo_unload, ["POST"])]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, f"no route {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if poll_seconds > 0:
            def poller() -> None:
                while not stop.wait(poll_seconds):
                    try:
                        repo.poll()
                    except Exception:   # a poll that breaks must not end hot updates for good; logged
                        log.exception("repository poll failed")
            thread = threading.Thread(target=poller, name="edgelite-repo-poll", daemon=True)
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)

    middleware = []
    if access_log is not None:   # outermost: requests refused for the token are logged too
        middleware.append(Middleware(AccessLog, write=access_log))
    if token is not None:
        middleware.append(Middleware(BearerToken, token=token))
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan,
                     middleware=middleware)
