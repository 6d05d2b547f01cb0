"""The limits that keep ``edgelite serve`` bounded whatever its clients send: bytes, pixels, batches, time and
connections. One record, checked once, read by the app (bodies, decodes, batches) and the HTTP server
(header and body deadlines, connections, shutdown).

Memory bound (README "Limits and guarantees"): the server's peak RSS stays under

    baseline + 3 × max_body_in_flight + work_memory + max_connections × max_header_bytes
             + the interpreters' arenas at max_batch

``baseline`` is the process with its models loaded. Bodies in flight are held as bytes and, once parsed, as
arrays (float32 from JSON text of ≥ 2 bytes a value: ≤ 2× the text; binary data is used in place). Expensive
transient work — a large JSON body as Python objects (≤ JSON_EXPANSION × its bytes), an upload being decoded
(DECODE_BYTES_PER_PIXEL × its pixels) — first reserves its size in ``work_memory`` and waits its turn; a step
larger than all of it runs alone. The interpreters' arenas depend on the model
(``benchmarks/serve_hostile.py`` measures all of it for the example).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgelite.core.errors import UserInputError

MiB = 1024 * 1024
# Pillow holds RGB and RGBA as 4 bytes a pixel; while converting to the model's colour mode both the decoded
# image and the converted one are alive: 8 bytes a pixel at the peak of one decode.
DECODE_BYTES_PER_PIXEL = 8
# A JSON body of numbers becomes Python objects before numpy takes it: the text as str, 8 bytes of list slot
# and a 24-byte float object per value. Measured: a 16 MiB body of "0.1," values peaks at 174 MB (10.9×); lists
# and objects are capped in count (serve/protocol.py) so that container-heavy bodies stay under this too.
JSON_EXPANSION = 12


@dataclass(frozen=True)
class ServeLimits:
    """Every cap of one server (the CLI flags of the same names)."""

    max_body: int = 16 * MiB              # one request body; larger: 413
    max_body_in_flight: int = 48 * MiB    # bodies being received or handled at once; past it: 503 + Retry-After
    max_pixels: int = 16 * 1024 * 1024    # one uploaded image (width × height, from its header); larger: 413
    work_memory: int = 192 * MiB          # parsing and decoding at once (all requests); others wait their turn
    max_batch: int = 64                   # samples in one request on a dynamic batch axis; more: 400
    header_timeout_s: float = 10.0        # from connection (or the previous response) to the end of the headers
    body_timeout_s: float = 30.0          # from the end of the headers to the end of the body; past it: 408
    keepalive_s: float = 5.0              # an idle keep-alive connection is closed after this
    shutdown_timeout_s: float = 10.0      # SIGTERM: requests in flight get this long, then they are cancelled
    max_connections: int = 256            # open connections; more are answered 503 and closed at once
    max_header_bytes: int = 64 * 1024     # request line + headers; more: 431 and the connection is closed

    def __post_init__(self) -> None:
        whole = {"max_body": (1024, None), "max_body_in_flight": (1024, None), "max_pixels": (1, None),
                 "work_memory": (16 * MiB, None), "max_batch": (1, None), "max_connections": (1, 1_000_000),
                 "max_header_bytes": (1024, 16 * MiB)}
        for name, (low, high) in whole.items():
            value = getattr(self, name)
            if not low <= value <= (high if high is not None else value):
                bound = f"{low}-{high}" if high is not None else f"at least {low}"
                raise UserInputError(f"--{name.replace('_', '-')} must be {bound}, got {value}")
        for name in ("header_timeout_s", "body_timeout_s", "keepalive_s", "shutdown_timeout_s"):
            value = getattr(self, name)
            if not 0 < value <= 3600:
                flag = "--" + name.removesuffix("_s").replace("_", "-")
                raise UserInputError(f"{flag} must be more than 0 and at most 3600 seconds, got {value}")
        if self.max_body_in_flight < self.max_body:
            raise UserInputError(f"--max-body-in-flight ({self.max_body_in_flight}) must be at least --max-body "
                                 f"({self.max_body}): one request of the largest size must fit")
