"""What ``edgelite serve`` admits at once, so that memory stays bounded whatever clients send (the bound:
serve/limits.py): bytes of request bodies in flight, and working memory for the expensive steps — parsing a
large JSON body into Python objects, decoding an uploaded image.

* ``BodyGuard`` (ASGI middleware, every route): counts body bytes as they arrive against
  ``max_body_in_flight`` (past it: 503 + Retry-After) and gives the body ``body_timeout_s`` from the end of the
  headers (past it: 408). A client that stalls mid-body ties up neither memory nor a shutdown for long.
* ``WorkMemory``: a weighted semaphore in bytes. A step reserves what it will allocate before it starts and
  waits (on the event loop, holding no thread) while others hold the rest; small steps never wait for each
  other, one huge step runs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from edgelite.serve.asgi import ASGIApp, Message, Receive, Scope, Send

T = TypeVar("T")
# the rest of an unread body would be taken for the next request: the connection ends with the answer
CLOSE = ((b"connection", b"close"),)
INLINE_WORK_BYTES = 256 * 1024   # steps this small run on the event loop unreserved: a thread hop costs more


class HttpError(Exception):
    """An answer other than 200 that a request earned: status and the ``{"error": …}`` message."""

    def __init__(self, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


class WorkMemory:
    """Bytes of working memory shared by all requests of one server (all calls on the event loop's thread)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._waiters: list[asyncio.Future[None]] = []

    @contextlib.asynccontextmanager
    async def reserve(self, amount: int) -> AsyncIterator[None]:
        """Hold ``amount`` bytes (at most the total) while the block runs; wait for them first."""
        amount = min(max(amount, 0), self.total)
        while self.used + amount > self.total:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
        self.used += amount
        try:
            yield
        finally:
            self.used -= amount
            waiters, self._waiters = self._waiters, []
            for w in waiters:   # each re-checks; those that still do not fit wait again
                if not w.done():
                    w.set_result(None)

    async def run(self, cost: int, work: Callable[[], T]) -> T:
        """``work()`` that allocates about ``cost`` bytes: on the event loop when small, else reserved and in the
        thread pool (so the loop keeps serving other connections meanwhile)."""
        if cost <= INLINE_WORK_BYTES:
            return _forgetting(work)
        async with self.reserve(cost):
            return await run_in_threadpool(_forgetting, work)


async def _before(deadline: float, waiting: Awaitable[T]) -> T:
    """``await waiting``, or TimeoutError at loop time ``deadline``."""
    if sys.version_info >= (3, 11):   # a timer on this task: no task of its own per request
        async with asyncio.timeout_at(deadline):
            return await waiting
    return await asyncio.wait_for(waiting, max(deadline - asyncio.get_running_loop().time(), 0))


def _forgetting(work: Callable[[], T]) -> T:
    """``work()``; when it raises, the locals of its frames are dropped at once. A refused 16 MiB JSON body is
    ~180 MB of Python objects held by the exception's traceback — through a reference cycle in the thread
    pool's hand-off, until the cyclic garbage collector happens to run (measured: three refused bodies took
    the server to 679 MB, after the working-memory reservation that was meant to bound them had ended)."""
    try:
        return work()
    except BaseException as exc:
        traceback.clear_frames(exc.__traceback__)
        raise


class BodyGuard:
    """ASGI middleware: request bodies count against ``max_in_flight`` bytes (all requests together) while
    their request runs, and must arrive within ``timeout_s`` of the request's start."""

    def __init__(self, app: ASGIApp, *, max_in_flight: int, timeout_s: float) -> None:
        self.app, self.max_in_flight, self.timeout_s = app, max_in_flight, timeout_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        taken, complete = 0, False

        async def guarded() -> Message:
            nonlocal taken, complete
            if complete:   # after the body: only a disconnect can come, whenever it comes
                return await receive()
            try:
                message = await _before(deadline, receive())
            except (TimeoutError, asyncio.TimeoutError):
                raise HttpError(408, f"request body did not arrive within {self.timeout_s:g} s "
                                     "(--body-timeout)", CLOSE) from None
            size = len(message.get("body", b""))
            if size:
                if self.in_flight + size > self.max_in_flight:
                    raise HttpError(503, f"the server is receiving {self.in_flight} bytes of other requests "
                                         f"(--max-body-in-flight {self.max_in_flight}); retry",
                                    ((b"retry-after", b"1"), *CLOSE))
                self.in_flight += size
                taken += size
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        try:
            await self.app(scope, guarded, send)
        finally:
            self.in_flight -= taken

