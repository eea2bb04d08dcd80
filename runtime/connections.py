"""Bounded connections: header size, header and body timeouts, and a connection limit that answers.

Shared by the HTTP servers of the gateway and the dashboard: each has its own
metrics (``ConnectionMetrics``, under its own prefix) and its own answer at the limit.

uvicorn's httptools protocol has none of these. llhttp itself never limits a
request head, and httptools joins the pieces of a long header value (or URL)
one ``bytes +=`` at a time: a 256 MiB header value costs minutes of CPU with
the event loop stalled. Connections that never finish their head, or that
sit idle, hold a file descriptor each; at the process's file limit the event
loop can no longer accept, and every new client is dropped without a word.

``GuardedHttpProtocol`` is uvicorn's protocol with those bounds added:

- a request head (request line and headers) over ``max_header_bytes`` gets 431
  before the parser has seen more than that, and the connection is closed;
- a head not complete within ``header_timeout`` of its first byte (or of the
  accept), or a body that receives nothing for ``body_timeout``, closes the
  connection (a periodic sweep checks, so the hot path arms no timer);
- at ``max_connections``, a new connection first makes room by closing the
  connection that has waited longest without a request in progress (idle, or
  still sending its head), then one whose body has stalled; if every
  connection is busy with a request, the newcomer gets 503 with
  ``Retry-After`` and ``Connection: close``. A log line (at most one per
  ``LOG_EVERY`` seconds, with counts) and the ``connections_closed`` metric say
  so.

The limit is kept below the process's file limit (raised to its hard limit at
start), so the loop always has descriptors left to accept and answer.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import resource
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from prometheus_client import CollectorRegistry
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from runtime.metrics import MetricSet

FD_RESERVE: Final = 96
"""File descriptors kept out of the connection limit: the listening socket, the broker
connection, the log, the event loop's own, and connections being refused."""
MAX_REFUSING: Final = 32
"""Connections over the limit that may be waiting for their 503 at once; more are closed at once."""
REFUSE_HEAD_TIMEOUT: Final = 2.0
"""Seconds a connection over the limit gets to send the head its 503 answers."""
STALLED_BODY: Final = 1.0
"""Seconds without body bytes after which a request may be closed to make room for a new connection."""
LOG_EVERY: Final = 10.0
"""Seconds between two log lines about the connection limit or timeouts; counts are summed in between."""
MAX_SWEEP_INTERVAL: Final = 1.0
DEFAULT_MAX_CONNECTIONS: Final = 4096
"""Connections per process when the operator sets no limit; an idle one costs some 10 KB."""

_IDLE, _HEAD, _BODY, _APP = range(4)
CLOSE_REASONS: Final = ("header_too_large", "header_timeout", "body_timeout", "evicted", "refused", "dropped")
"""Why a connection was closed or refused, as the ``reason`` label of each server's counter."""


class ConnectionMetrics:
    """Where a server counts the connections its guard closes, and shows how many are open.

    Two metrics, named after ``prefix``: ``<prefix>_connections_closed`` (a
    counter by ``reason``, one of ``CLOSE_REASONS``) and ``<prefix>_open_connections``.

    Args:
        prefix: the server's metric prefix, e.g. ``spartakus_ingest``.
        registry: the server's registry.
        server: what the help text calls the server, e.g. ``the gateway``.
    """

    def __init__(self, prefix: str, registry: CollectorRegistry, *, server: str) -> None:
        metrics = MetricSet(prefix, registry)
        self.connections_closed = metrics.counter(
            "connections_closed",
            f"Connections {server} closed or refused to stay within its limits, by reason: header_too_large "
            "(431), header_timeout, body_timeout, evicted (closed to make room), refused (503 at the connection "
            "limit), dropped (closed at once, too many waiting for their 503).",
            ["reason"],
        )
        self._by_reason = {reason: self.connections_closed.labels(reason=reason) for reason in CLOSE_REASONS}
        self.open_connections = metrics.gauge("open_connections", "HTTP connections open, within the connection limit.")

    def count_connections_closed(self, reason: str, count: int) -> None:
        """Count ``count`` connections closed or refused for ``reason`` (one of ``CLOSE_REASONS``)."""
        self._by_reason[reason].inc(count)


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """How much one connection may hold, and for how long; times in seconds."""

    max_connections: int
    max_header_bytes: int
    header_timeout: float
    body_timeout: float


def _error_response(status: int, reason: str, error: str, message: str, extra: bytes = b"") -> bytes:
    body = json.dumps({"error": error, "details": [{"message": message}]}, separators=(",", ":")).encode()
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + extra + b"connection: close\r\n\r\n" + body


def connection_budget(requested: int | None) -> int:
    """The connection limit of this process: ``requested`` (``DEFAULT_MAX_CONNECTIONS`` if None), within the file limit.

    The soft file limit is raised to the hard one first, as servers commonly do.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            log.debug("could not raise the file limit", exc_info=True)
    room = max(1, soft - FD_RESERVE)
    if requested is not None and requested > room:
        log.warning(
            "connection limit lowered to fit the file limit",
            extra={"requested": requested, "max_connections": room, "file_limit": soft},
        )
    return min(DEFAULT_MAX_CONNECTIONS if requested is None else requested, room)


class ConnectionGuard:
    """The state one server process keeps about its connections, and the limits it applies.

    Args:
        limits: the bounds.
        metrics: where closed connections are counted.
        retry_after: seconds announced with a 503.
        busy_error: the ``error`` of that 503's JSON body.
    """

    def __init__(
        self, limits: ConnectionLimits, metrics: ConnectionMetrics, retry_after: int, *, busy_error: str = "server busy"
    ) -> None:
        self.limits = limits
        self._metrics = metrics
        self.connections: dict[GuardedHttpProtocol, None] = {}
        metrics.open_connections.set_function(lambda: len(self.connections))
        # Idle and head-reading connections, oldest first: the first to close when room is needed.
        self.waiting: dict[GuardedHttpProtocol, None] = {}
        # Connections over the limit, waiting to send the head their 503 answers.
        self.refusing: dict[GuardedHttpProtocol, None] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_every = min(MAX_SWEEP_INTERVAL, limits.header_timeout / 4, limits.body_timeout / 4)
        self._pending: collections.Counter[str] = collections.Counter()
        self._logged_at = float("-inf")
        self.too_large = _error_response(
            431,
            "Request Header Fields Too Large",
            "request header fields too large",
            f"the request line and headers exceed {limits.max_header_bytes} bytes",
        )
        busy = {"error": busy_error, "details": [{"message": "too many connections; retry later"}]}
        self._busy_body = json.dumps(busy, separators=(",", ":")).encode()
        self._busy_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._busy_body)).encode()),
            (b"retry-after", str(retry_after).encode()),
            (b"connection", b"close"),
        ]

    async def busy(self, _scope: Any, _receive: Any, send: Any) -> None:
        """The ASGI app that answers a connection over the limit: 503, and close."""
        await send({"type": "http.response.start", "status": 503, "headers": self._busy_headers})
        await send({"type": "http.response.body", "body": self._busy_body})

    def admit(self, protocol: GuardedHttpProtocol, now: float) -> None:
        """Register a new connection, making room or refusing it at the limit."""
        if self._sweeper is None:
            self._sweep_later()
        if len(self.connections) >= self.limits.max_connections:
            victim = self._victim(now)
            if victim is not None:
                self.note("evicted")
                victim.drop()
            elif len(self.refusing) >= MAX_REFUSING:
                self.note("dropped")
                protocol.transport.abort()
                return
            else:
                self.note("refused")
                protocol.refused = True
                self.refusing[protocol] = None
                return
        self.connections[protocol] = None
        self.waiting[protocol] = None

    def forget(self, protocol: GuardedHttpProtocol) -> None:
        """Unregister a connection that closed (or was closed); idempotent."""
        if self.connections.pop(protocol, 0) is None:
            self.waiting.pop(protocol, None)
        else:
            self.refusing.pop(protocol, None)

    def note(self, reason: str, count: int = 1) -> None:
        """Count connections closed or refused for ``reason``; log the counts at most every ``LOG_EVERY`` s."""
        self._metrics.count_connections_closed(reason, count)
        self._pending[reason] += count
        self._flush(asyncio.get_running_loop().time())

    def _flush(self, now: float) -> None:
        if self._pending and now - self._logged_at >= LOG_EVERY:
            counts = dict(self._pending)
            self._pending.clear()
            self._logged_at = now
            log.warning(
                "closing or refusing connections to stay within the limits",
                extra={"closed": counts, "connections": len(self.connections), **_limits_fields(self.limits)},
            )

    def _victim(self, now: float) -> GuardedHttpProtocol | None:
        for candidate in self.waiting:
            return candidate
        for candidate in self.connections:
            if candidate.phase == _BODY and now - candidate.progress_at >= STALLED_BODY:
                return candidate
        return None

    def _sweep_later(self) -> None:
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every, self._sweep)

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        header_deadline = now - self.limits.header_timeout
        body_deadline = now - self.limits.body_timeout
        refuse_deadline = now - REFUSE_HEAD_TIMEOUT
        expired: list[tuple[GuardedHttpProtocol, str]] = []
        for protocol in self.connections:
            if protocol.phase == _HEAD and protocol.since < header_deadline:
                expired.append((protocol, "header_timeout"))
            elif protocol.phase == _BODY and protocol.progress_at < body_deadline:
                expired.append((protocol, "body_timeout"))
        expired += [(protocol, "header_timeout") for protocol in self.refusing if protocol.since < refuse_deadline]
        for protocol, reason in expired:
            self._metrics.count_connections_closed(reason, 1)
            self._pending[reason] += 1
            protocol.drop()
        self._flush(now)
        self._sweep_later()


def _limits_fields(limits: ConnectionLimits) -> dict[str, object]:
    return {
        "max_connections": limits.max_connections,
        "max_header_bytes": limits.max_header_bytes,
        "header_timeout_s": limits.header_timeout,
        "body_timeout_s": limits.body_timeout,
    }


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded by the ``ConnectionGuard`` of its server process."""

    guard: ClassVar[ConnectionGuard]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.phase = _HEAD
        self.since = self.progress_at = 0.0
        self.head_bytes = 0
        self.refused = False
        self._head_limit = self.guard.limits.max_header_bytes
        self._waiting = self.guard.waiting

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's own
        """A new connection: admitted, made room for, or refused."""
        super().connection_made(transport)
        self.since = self.progress_at = self.loop.time()
        self.guard.admit(self, self.since)

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection closed."""
        self.guard.forget(self)
        super().connection_lost(exc)

    def drop(self) -> None:
        """Close the connection now, to make room or because it timed out."""
        self.guard.forget(self)
        if not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting head bytes so that an oversized head is cut off at the limit."""
        # The hot path of every request: plain attribute work, and the parent called directly (no super()).
        self.progress_at = now = self.loop.time()
        phase = self.phase
        if phase == _BODY:
            HttpToolsProtocol.data_received(self, data)
            return
        if phase == _IDLE:
            self.phase, self.since, self.head_bytes = _HEAD, now, 0
            if self._waiting.pop(self, 0) is None:
                self._waiting[self] = None  # to the end: a fresh request head is the last to be closed for room
        if len(data) <= self._head_limit - self.head_bytes:
            self.head_bytes += len(data)
            HttpToolsProtocol.data_received(self, data)
        else:
            self._feed_up_to_the_limit(data)

    def _feed_up_to_the_limit(self, data: bytes) -> None:
        limit = self._head_limit
        while data and not self.transport.is_closing():
            if self.phase == _BODY:
                HttpToolsProtocol.data_received(self, data)
                return
            room = limit - self.head_bytes
            if len(data) <= room:
                self.head_bytes += len(data)
                HttpToolsProtocol.data_received(self, data)
                return
            self.head_bytes = limit
            HttpToolsProtocol.data_received(self, data[:room])
            if self.phase != _BODY and self.head_bytes == limit and not self.transport.is_closing():
                self._refuse_head()
                return
            data = data[room:]

    def _refuse_head(self) -> None:
        self.guard.note("header_too_large")
        self.transport.write(self.guard.too_large)
        self.drop()

    def on_headers_complete(self) -> None:
        """The head is complete: a body (or the app) follows; a refused connection gets its 503 here."""
        # Always called from within data_received, which has just set progress_at.
        self.phase = _BODY
        self._waiting.pop(self, None)
        if self.refused:
            self.app = self.guard.busy
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        """The whole request arrived; the next head (if pipelined) is counted from here."""
        self.phase, self.head_bytes = _APP, 0
        HttpToolsProtocol.on_message_complete(self)

    def on_response_complete(self) -> None:
        """The answer went out: the connection is idle until the next request's first byte."""
        HttpToolsProtocol.on_response_complete(self)
        # An idle connection is timed by uvicorn's keep-alive; its head is timed from its first byte.
        if self.phase == _APP and not self.pipeline and self in self.guard.connections:
            self.phase = _IDLE
            self._waiting[self] = None

    def _unsupported_upgrade_warning(self) -> None:
        # The servers speak plain HTTP only: an Upgrade request is answered as an
        # ordinary request. The parser stops reading the connection after it, so
        # the answer closes it.
        if self.cycle is not None:
            self.cycle.keep_alive = False


def guarded_protocol(guard: ConnectionGuard) -> type[GuardedHttpProtocol]:
    """The protocol class uvicorn should use, bound to ``guard``."""

    class Protocol(GuardedHttpProtocol):
        pass

    Protocol.guard = guard
    return Protocol
