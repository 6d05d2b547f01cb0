"""The HTTP server under ``edgelite serve``: uvicorn with httptools, plus what uvicorn does not bound.

uvicorn closes idle keep-alive connections and, with ``timeout_graceful_shutdown``, cancels requests that
outlive a shutdown; it has no deadline for a request's headers, no cap on their size (httptools has none) and
no cap on connections, so a client that opens sockets and sends a byte now and then would keep them forever.
``GuardedHttpTools`` adds those three, per connection, with timers on the event loop (no cost per byte):

* headers must be complete within ``header_timeout_s`` of the connection (or of the previous response) —
  else 408 and the connection is closed;
* the request line and headers may take ``max_header_bytes`` — else 431 and closed;
* past ``max_connections`` open connections a new one is answered 503 and closed at once.

The body's deadline is the application's (serve/admission.py: it can answer 408 in the protocol's JSON).
SIGTERM: uvicorn stops accepting, closes idle connections, gives requests in flight ``shutdown_timeout_s``,
then cancels them; the process exits within about that (plus one inference already running in a thread).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from edgelite.serve.asgi import ASGIApp
from edgelite.serve.limits import ServeLimits

_REASONS = {408: b"Request Timeout", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def guarded_protocol(limits: ServeLimits) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with the limits above, or None when httptools is not installed."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:   # httptools missing: uvicorn's h11 protocol, without header deadline or connection cap
        return None

    class GuardedHttpTools(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _in_head = True
        _head_bytes = 0

        def connection_made(self, transport: asyncio.Transport) -> None:   # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                self._refuse(503, f"the server has {limits.max_connections} connections open "
                                  "(--max-connections); retry later")
                return
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._in_head:
                self._head_bytes += len(data)
            super().data_received(data)
            if self._in_head and self._head_bytes > limits.max_header_bytes and not self.transport.is_closing():
                self._refuse(431, f"request line and headers are over {limits.max_header_bytes} bytes")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._timer is None:   # the next request on a kept-alive connection: its own deadline
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            self._in_head, self._head_bytes = False, 0
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head, self._head_bytes = True, 0

        def _arm(self) -> None:
            self._disarm()
            self._timer = self.loop.call_later(limits.header_timeout_s, self._head_timed_out)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _head_timed_out(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False   # a pipelined request is stalled: finish this response, then close
                return
            self._refuse(408, f"request headers did not arrive within {limits.header_timeout_s:g} s "
                              "(--header-timeout)")

        def _refuse(self, status: int, message: str) -> None:
            """Answer ``status`` outside any request cycle (none has started) and close the connection."""
            self._disarm()
            body = json.dumps({"error": message}).encode()
            self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                                 b"connection: close\r\n\r\n%s" % (status, _REASONS[status], len(body), body))
            self.transport.close()

    return GuardedHttpTools


def parser_name() -> str:
    import importlib.util

    # h11, uvicorn's fallback, is ~1.6× slower per request and gets no header deadline or connection cap here
    return "httptools" if importlib.util.find_spec("httptools") else "h11 (pip install httptools: faster, and bounded)"


def run(app: ASGIApp, *, host: str, port: int, limits: ServeLimits) -> None:
    """Serve ``app`` until SIGTERM/SIGINT (which let requests in flight finish, up to the shutdown timeout)."""
    import uvicorn

    protocol = guarded_protocol(limits)
    options: dict[str, Any] = {
        "timeout_keep_alive": limits.keepalive_s, "timeout_graceful_shutdown": limits.shutdown_timeout_s,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }
    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            http=protocol if protocol is not None else "h11", **options)
    logging.getLogger("uvicorn.error").addFilter(_no_cancelled_tracebacks)   # after Config set logging up
    uvicorn.Server(config).run()


def _no_cancelled_tracebacks(record: logging.LogRecord) -> bool:
    """Drop uvicorn's traceback for each request the shutdown timeout cancelled: it already logs one line
    saying how many it cancelled, and a stalled client is not a fault of the server."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, asyncio.CancelledError)
