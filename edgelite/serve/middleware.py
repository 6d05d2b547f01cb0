"""ASGI middleware of ``edgelite serve``: the bearer token check and the JSON-lines access log.

Both are plain ASGI (no response buffering): the token is compared in constant time, health routes stay open
(an orchestrator's probe has no token), the repository API can take its own admin token, a request with two
``Authorization`` headers is refused (which one a proxy and the server read could differ), and every request
gets an id — the client's ``X-Request-ID`` when it
is a short token, else a fresh one — returned in the response's ``X-Request-ID`` and written in the log line.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgelite.core.errors import UserInputError
from edgelite.serve.asgi import ASGIApp, Message, Receive, Scope, Send

MAX_TOKEN_BYTES = 4096
OPEN_PATHS = ("/v2/health/live", "/v2/health/ready")
ADMIN_PREFIX = "/v2/repository/"   # Triton's repository extension: loads and unloads models
log = logging.getLogger("edgelite.serve")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def read_token(path: Path, flag: str = "--token-file") -> str:
    """The bearer token in ``path`` (surrounding whitespace removed); refuses empty or oversized files, reading
    at most one byte past the cap (``/dev/zero`` is refused, not read). Warns, as ssh does, when the file can
    be read by other users."""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            raw = fh.read(MAX_TOKEN_BYTES + 1)
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read the token file {flag} ({exc.strerror})") from None
    token = raw.decode("utf-8", "replace").strip()
    if not token or len(raw) > MAX_TOKEN_BYTES or any(c.isspace() for c in token):
        raise UserInputError(f"{path}: the token file must hold one token of 1-{MAX_TOKEN_BYTES} bytes, no spaces "
                             f"({flag})")
    if stat.S_ISREG(mode) and mode & 0o077:
        log.warning("%s: %s can be read by other users (mode %o); chmod 600 it", path, flag, stat.S_IMODE(mode))
    return token


async def _send_json(send: Send, status: int, body: dict[str, Any],
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": payload})


class BearerToken:
    """401 for any request but health without ``Authorization: Bearer <token>``; the repository API takes
    ``admin_token`` instead when there is one. ``token`` None: inference routes are open."""

    def __init__(self, app: ASGIApp, token: str | None, admin_token: str | None = None) -> None:
        self.app = app
        self.token = token.encode() if token is not None else None
        self.admin = admin_token.encode() if admin_token is not None else self.token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            want = self.admin if scope["path"].startswith(ADMIN_PREFIX) else self.token
            given = [v for k, v in scope["headers"] if k == b"authorization"]
            if len(given) > 1:
                await _send_json(send, 400, {"error": "more than one Authorization header; send one"})
                return
            if want is not None:
                scheme, _, value = (given[0] if given else b"").partition(b" ")
                if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), want):
                    await _send_json(send, 401, {"error": "missing or wrong bearer token"},
                                     [(b"www-authenticate", b"Bearer")])
                    return
        await self.app(scope, receive, send)


class AccessLog:
    """One JSON line per request: time, request id, method, path, status, milliseconds, bytes sent."""

    def __init__(self, app: ASGIApp, write: Callable[[str], None]) -> None:
        self.app, self.write = app, write

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        t0 = time.perf_counter()
        status, sent = 500, 0

        async def wrapped(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            self.write(json.dumps({"time": round(time.time(), 3), "id": request_id, "method": scope["method"],
                                   "path": scope["path"][:256], "status": status,
                                   "ms": round((time.perf_counter() - t0) * 1e3, 3), "bytes": sent}))
