"""The HTTP application of ``edgelite serve``: Open Inference Protocol routes over a ``Repository`` (Starlette).

``POST …/infer`` is plain ASGI in front of Starlette (serve/inference.py); classify, TF Serving's predict and
the rest are Starlette routes, their inference in the thread pool (LiteRT releases the GIL while it computes).
Each served model's interpreters are used by one request at a time. Every user mistake is a 4xx with OIP's
``{"error": "…"}`` body — malformed JSON, unknown model or version, wrong datatype or shape, a body over
``max_body`` bytes — never a traceback. What one server admits at once (body bytes, decode and parse memory)
and how long a client may take are ``ServeLimits`` (serve/limits.py, serve/admission.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edgelite.core.limits import ascii_uint
from edgelite.core.version import __version__
from edgelite.serve import protocol
from edgelite.serve.admission import BodyGuard, HttpError, WorkMemory
from edgelite.serve.asgi import ASGIApp
from edgelite.serve.capture import Capture
from edgelite.serve.inference import (
    InferEndpoint,
    InferFront,
    Reply,
    check_declared,
    error_reply,
    json_reply,
    observe,
    read_body,
    split_body,
)
from edgelite.serve.limits import DECODE_BYTES_PER_PIXEL, JSON_EXPANSION, ServeLimits
from edgelite.serve.metrics import Metrics
from edgelite.serve.middleware import AccessLog, BearerToken
from edgelite.serve.repository import Repository, Served
from edgelite.serve.updates import Updater

log = logging.getLogger("edgelite.serve")


Handler = Callable[[Request], Awaitable[Response]]


def _response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.content_type.decode(),
                    headers={k.decode(): v.decode() for k, v in reply.headers})


def _guarded(handler: Handler, public: Callable[[str], str]) -> Handler:
    """Map the errors a request can cause to 4xx responses; anything else is a logged 500."""
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as exc:   # mapped to a 4xx here; anything unexpected is logged and answered 500
            reply = error_reply(exc, public)
            if reply is None:
                log.exception("internal error on %s %s", request.method, request.url.path)
                reply = json_reply({"error": "internal error; see the server log"}, 500)
            return _response(reply)
    return wrapped


def _served(repo: Repository, request: Request) -> Served:
    params = request.path_params
    return repo.get(params["name"], params.get("version"))


def model_metadata(served: Served, versions: list[int]) -> dict[str, Any]:
    m = served.model
    return {"name": served.name, "versions": [str(v) for v in versions], "platform": "tflite",
            "inputs": [protocol.tensor_metadata(t, output=False) for t in m.inputs],
            "outputs": [protocol.tensor_metadata(t, output=True) for t in m.outputs],
            "drift": served.drift_status}   # edgelite's own: "monitored", or "off: <why>"


MAX_TOP_K = 1000


def classify(served: Served, data: bytes, top_k: int, max_pixels: int | None = None) -> dict[str, Any]:
    """Top-k labels for one encoded image, preprocessed by the spec inside the file (the code path of ``run``)."""
    from edgelite.calibration.preprocess import decode_image
    from edgelite.core.errors import UnreadableImageError

    try:
        image = decode_image(data, "request body", max_pixels=max_pixels)
    except UnreadableImageError as exc:
        raise HttpError(400, str(exc)) from None
    with served.instance() as model:
        x = model.prepare(image)   # the spec inside the file: the path `run` takes
        del image   # the decoded upload can be the largest thing this request holds
        scores = model.predict_all(x)[model.class_output]
    observe(served, x, scores)
    top = served.model.top_labels(scores[0], top_k)
    return {"model_name": served.name, "model_version": str(served.version),
            "classes": [{"label": label, "score": score if math.isfinite(score) else None} for label, score in top]}


def _image_cost(data: bytes, max_pixels: int) -> int:
    """Working memory decoding ``data`` takes, from its header; 413 past ``max_pixels``, 400 if unreadable."""
    from edgelite.calibration.preprocess import image_pixels
    from edgelite.core.errors import UnreadableImageError

    try:
        pixels = image_pixels(data, "request body")
    except UnreadableImageError as exc:
        raise HttpError(400, str(exc)) from None
    if pixels > max_pixels:
        raise HttpError(413, f"request body: an image of {pixels:,} pixels is over the server's {max_pixels:,}-pixel "
                             "cap (--max-pixels); send a smaller image")
    return pixels * DECODE_BYTES_PER_PIXEL


async def _image_bytes(request: Request, cap: int) -> bytes:
    """The image of a classify request: the raw body, or the first file of a multipart form."""
    check_declared(request.scope, cap)
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        # one file and a few fields; Starlette's own refusals (more files, a missing boundary) are 400s
        async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
            for value in form.values():
                if not isinstance(value, str):
                    data = await value.read(cap + 1)
                    if len(data) > cap:
                        raise HttpError(413, f"uploaded file is over the {cap}-byte limit (--max-body)")
                    return bytes(data)
        raise HttpError(400, "multipart form holds no file; send the image as a file field or as the raw body")
    raw = await read_body(request.scope, request.receive, cap)
    if not raw:
        raise HttpError(400, "empty body: send an encoded image (PNG, JPEG, …)")
    return raw


def create_app(repo: Repository, *, limits: ServeLimits | None = None, poll_seconds: float = 0.0,
               metrics: Metrics | None = None, token: str | None = None, admin_token: str | None = None,
               access_log: Callable[[str], None] | None = None, repository_api: bool = False,
               capture: Capture | None = None, watch: bool = False) -> ASGIApp:
    """The ASGI application serving ``repo`` (Starlette routes behind the plain-ASGI infer front); with
    ``poll_seconds`` > 0 a background thread polls REPO for new versions while it runs, with ``watch`` a file
    watcher polls it as soon as it changes (serve/updates.py). ``limits``: every cap (serve/limits.py);
    ``token``: a bearer token every route but health requires; ``admin_token``: the one the repository API
    requires instead (default: ``token``); ``access_log``: receives one JSON line per request;
    ``repository_api``: Triton's load/unload/index."""
    limits = limits or ServeLimits()
    max_body = limits.max_body
    work = WorkMemory(limits.work_memory)
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

    async def classify_route(request: Request) -> Response:
        served = _served(repo, request)
        raw_k = request.query_params.get("top_k", "5")
        top_k = ascii_uint(raw_k, 4)
        if top_k is None or not 1 <= top_k <= MAX_TOP_K:
            raise HttpError(400, f"top_k must be an integer 1-{MAX_TOP_K}, got {raw_k[:20]!r}")
        data = await _image_bytes(request, max_body)
        # decodes wait for working memory: six huge uploads at once decode one after another, not together
        async with work.reserve(_image_cost(data, limits.max_pixels)):
            return JSONResponse(await run_in_threadpool(classify, served, data, top_k, limits.max_pixels))

    async def predict_route(request: Request) -> Response:
        from edgelite.serve.tfserving import parse_predict, predict

        served = _served(repo, request)
        head, binary = split_body(request.scope, await read_body(request.scope, request.receive, max_body))
        if binary:
            raise HttpError(400, "TensorFlow Serving's predict API takes JSON only")
        arrays, rows = await work.run(len(head) * JSON_EXPANSION,
                                      lambda: parse_predict(head, served.model.inputs, limits.max_batch))
        return JSONResponse(await run_in_threadpool(predict, served, arrays, rows))

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

    endpoint = InferEndpoint(repo, stats, capture, limits, work)

    def route(path: str, handler: Handler, methods: list[str]) -> Route:
        return Route(path, _guarded(handler, repo.public), methods=methods)

    routes = [
        route("/v2/health/live", live, ["GET"]),
        route("/v2/health/ready", ready, ["GET"]),
        route("/v2", server, ["GET"]),
        route("/v2/models/{name}", metadata, ["GET"]),
        route("/v2/models/{name}/versions/{version}", metadata, ["GET"]),
        route("/v2/models/{name}/ready", model_ready, ["GET"]),
        route("/v2/models/{name}/versions/{version}/ready", model_ready, ["GET"]),
        # POST …/infer reaches `endpoint` through InferFront; these routes answer other methods with 405
        Route("/v2/models/{name}/infer", endpoint, methods=["POST"]),
        Route("/v2/models/{name}/versions/{version}/infer", endpoint, methods=["POST"]),
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
        return _response(json_reply({"error": f"no route {request.method} {request.url.path}"}, 404))

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _response(json_reply({"error": f"{request.method} is not allowed on {request.url.path}"}, 405))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        updater = Updater(repo, poll_seconds=poll_seconds, watch=watch)
        updater.start()
        try:
            yield
        finally:
            updater.stop()

    starlette = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed}, lifespan=lifespan)
    # no redirect for a trailing slash: Starlette builds its Location from the client's Host header
    starlette.router.redirect_slashes = False
    app: ASGIApp = BodyGuard(InferFront(starlette, endpoint), max_in_flight=limits.max_body_in_flight,
                             timeout_s=limits.body_timeout_s)
    if token is not None or admin_token is not None:
        app = BearerToken(app, token=token, admin_token=admin_token)
    if access_log is not None:   # outermost: requests refused for the token are logged too
        app = AccessLog(app, write=access_log)
    return app
