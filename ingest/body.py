"""Reading a report body from the ASGI stream: media type, size caps, gzip.

Both caps are enforced while the bytes arrive, so memory stays bounded by the
caps whatever the client sends:

- the raw cap is checked against ``Content-Length`` before reading and against
  the bytes received while reading, so a 2 GB upload is cut off at the cap;
- the inflated cap is checked while inflating, with ``zlib``'s ``max_length``:
  a small gzip body that would inflate to gigabytes produces at most cap + 1
  bytes before it is refused.

Inflating is done in slices of ``INFLATE_SLICE`` bytes of output, with a turn
of the event loop between slices: a 100 KB body that inflates to the 64 MiB
cap takes tens of milliseconds of zlib, and in one piece that would be tens
of milliseconds in which no other request is answered. In slices, small
reports are answered between them, whatever the bombs in flight.

The caller's ``hold`` is told what the body holds after each chunk (the bytes
kept, and for gzip the bytes received as well), so that the memory budget
can refuse a request before the bytes are kept. A body of several chunks is
gathered in one ``bytearray``, which grows in place: the whole body is never
copied to join its pieces.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final

from ingest.errors import RequestError, detail

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

JSON_MEDIA_TYPE: Final = b"application/json"
_GZIP: Final = frozenset({b"gzip", b"x-gzip"})
_IDENTITY: Final = frozenset({b"", b"identity"})
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # gzip container only, as Content-Encoding: gzip promises
INFLATE_SLICE: Final = 256 * 1024
"""Most bytes inflated between two turns of the event loop (a fraction of a millisecond of zlib)."""


@dataclass(frozen=True, slots=True)
class BodyLimits:
    """Size caps in bytes: as sent, and after gzip inflation."""

    max_raw: int
    max_decompressed: int


class ClientDisconnectedError(Exception):
    """The client went away before its body was complete; there is no one to answer."""


def check_media_type(content_type: bytes | None) -> None:
    """Accept ``application/json`` with any parameters; anything else is a 415."""
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    if media != JSON_MEDIA_TYPE:
        shown = content_type.decode("latin-1") if content_type else "none"
        raise RequestError(
            415, "unsupported media type", [detail(f"Content-Type must be application/json, got {shown[:100]!r}")]
        )


def is_gzip(content_encoding: bytes | None) -> bool:
    """Whether the body is gzip; an encoding other than gzip or identity is a 415."""
    encoding = (content_encoding or b"").strip().lower()
    if encoding in _GZIP:
        return True
    if encoding in _IDENTITY:
        return False
    shown = encoding.decode("latin-1")[:100]
    raise RequestError(
        415, "unsupported content encoding", [detail(f"Content-Encoding must be gzip or absent, got {shown!r}")]
    )


def content_length(value: bytes | None) -> int | None:
    """The declared body size, if any; the HTTP parser has already refused a malformed one."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as e:
        raise RequestError(400, "invalid Content-Length", [detail("Content-Length must be a number")]) from e


async def read_body(
    receive: Receive,
    *,
    declared: int | None,
    gzip: bool,
    limits: BodyLimits,
    count: Callable[[int], None],
    hold: Callable[[int], None] = lambda _total: None,
) -> tuple[bytes | bytearray, int]:
    """Read the whole request body within the caps; ``count`` is told the size of each chunk received.

    ``hold`` is told the bytes the body holds so far before they are kept, and may raise to stop reading.

    Returns:
        The body (inflated when ``gzip``) and the number of bytes received as sent.

    Raises:
        RequestError: 413 over a cap, 400 for a broken gzip stream.
        ClientDisconnectedError: the client hung up mid-body.
    """
    if declared is not None and declared > limits.max_raw:
        raise _too_large(limits.max_raw, "request body")
    sink: _Inflater | _Collector = _Inflater(limits.max_decompressed) if gzip else _Collector(limits.max_decompressed)
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError
        chunk: bytes = message.get("body", b"")
        received += len(chunk)
        count(len(chunk))
        if received > limits.max_raw:
            raise _too_large(limits.max_raw, "request body")
        if isinstance(sink, _Inflater):
            await sink.feed(chunk, hold)
        else:
            sink.feed(chunk, hold)
        if not message.get("more_body", False):
            return sink.finish(), received


class _Collector:
    """The body as sent; one chunk (the usual case for a small report) is returned without copying.

    The inflated cap bounds the JSON document whatever its encoding, so it applies here too.
    """

    def __init__(self, limit: int) -> None:
        self._first = b""
        self._rest: bytearray | None = None
        self._limit = limit
        self._size = 0

    def feed(self, chunk: bytes, hold: Callable[[int], None]) -> None:
        self._size += len(chunk)
        if self._size > self._limit:
            raise _too_large(self._limit, "request body")
        hold(self._size)
        if self._rest is not None:
            self._rest += chunk
        elif self._first:
            self._rest = bytearray(self._first)
            self._rest += chunk
            self._first = b""
        else:
            self._first = chunk

    def finish(self) -> bytes | bytearray:
        return self._first if self._rest is None else self._rest


class _Inflater:
    """Inflates a gzip stream chunk by chunk, never producing more than ``limit`` + 1 bytes."""

    def __init__(self, limit: int) -> None:
        self._inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        self._limit = limit
        self._size = 0
        self._received = 0
        self._out = bytearray()

    async def feed(self, chunk: bytes, hold: Callable[[int], None]) -> None:
        self._received += len(chunk)
        data = chunk
        while True:
            if self._inflater.eof:
                if data or self._inflater.unused_data:
                    raise _after_end()
                return
            want = min(INFLATE_SLICE, self._limit - self._size + 1)
            try:
                out = self._inflater.decompress(data, want)
            except zlib.error as e:
                raise RequestError(400, "invalid gzip body", [detail(str(e))], close=True) from e
            self._size += len(out)
            if self._size > self._limit:
                raise _too_large(self._limit, "inflated body")
            hold(self._received + self._size)
            self._out += out
            data = self._inflater.unconsumed_tail
            if not data and len(out) < want:
                # All input taken and zlib stopped short of the slice: nothing is pending.
                if self._inflater.unused_data:
                    raise _after_end()
                return
            await asyncio.sleep(0)  # the loop's turn: other requests are served between slices

    def finish(self) -> bytes | bytearray:
        if not self._inflater.eof:
            raise RequestError(400, "invalid gzip body", [detail("the gzip stream is truncated")])
        return self._out


def _after_end() -> RequestError:
    return RequestError(400, "invalid gzip body", [detail("data after the end of the gzip stream")], close=True)


def _too_large(limit: int, what: str) -> RequestError:
    # The rest of the body is never read; closing the connection stops the upload.
    return RequestError(413, "request body too large", [detail(f"the {what} exceeds {limit} bytes")], close=True)
