"""The gateway's HTTP routes, as a plain ASGI application.

A framework would add a routing and request-object layer to every report;
six fixed routes do not need one, and the gateway's budget per report is a
fraction of the broker's own cost (see ``bench/ingest_bench.py``).

Error bodies and the access-log line of each request follow ``runtime.http``,
as the dashboard's do; the line never holds the client address: the collector
stores none.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, Final

from ingest.body import BodyLimits, ClientDisconnectedError, check_media_type, content_length, is_gzip, read_body
from ingest.budget import SMALL_REQUEST, Lease, MemoryBudget, OverBudgetError
from ingest.errors import RequestError
from ingest.limits import FloodLimits, Refusal
from ingest.memory import HeapTrimmer
from ingest.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from ingest.metrics import IngestMetrics
from ingest.offload import Offloader
from ingest.openapi import openapi_bytes
from ingest.ports import Publisher, PublishError
from ingest.sources import SourceResolver
from ingest.validation import Accepted, accept_report
from runtime.http import AccessLog, detail, error_body, not_allowed_body, not_found_body
from schema.report import SCHEMA_VERSION
from schema.signature import HEADER

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

SIGNATURE_HEADER: Final = HEADER.lower().encode()
SUBMIT_PATHS: Final = frozenset({"/api/v1", "/api/v1/"})
ON_LOOP_MAX_BYTES: Final = 32 * 1024
ON_LOOP_MAX_CONTAINERS: Final = 128
"""Documents within both bounds are validated on the event loop; any other on a worker thread (see ``IngestApp``).

Validation costs time per JSON object or array and per byte, so a document
within both bounds takes at most about a millisecond, while a small gzip body
can inflate to tens of thousands of minimal nodes (the figures are in the
README's "Ingest gateway" section).
"""
JSON: Final = b"application/json"
CLIENT_CLOSED: Final = 499
"""Logged (never sent) when the client hung up before its body was complete, as nginx does."""

access_log = AccessLog("ingest")

_NO_CONTENT: Final[Message] = {"type": "http.response.start", "status": 204, "headers": []}
_EMPTY_BODY: Final[Message] = {"type": "http.response.body", "body": b""}
_ENCODE: Final = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(slots=True)
class Outcome:
    """What a request is answered with, and what its log line says."""

    status: int
    body: bytes = b""
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    fields: dict[str, object] = field(default_factory=dict)


def json_outcome(status: int, document: object, **fields: object) -> Outcome:
    """An answer with a JSON body."""
    return Outcome(status, _ENCODE(document).encode(), fields=fields)


def error_outcome(status: int, summary: str, details: list[dict[str, object]], /, **fields: object) -> Outcome:
    """An answer with the error body of ``runtime.http``; ``fields`` go to its log line."""
    return Outcome(status, error_body(summary, details), fields=fields)


def gateway_version() -> str:
    """The installed package's version."""
    try:
        return metadata.version("spartakus")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class IngestApp:
    """The ASGI application: ``POST /api/v1`` plus probes, version, metrics and the API description.

    Validating a report costs time in proportion to its nodes, and a large
    report is validated in slices, so its memory stays near its own size (see
    ``ingest.validation``). Any document that could take more than about a
    millisecond (``ON_LOOP_MAX_BYTES``, ``ON_LOOP_MAX_CONTAINERS``) is validated
    on one worker thread that yields to the event loop as long as it held the
    interpreter (``ingest.offload``), so the loop keeps answering (and
    collecting confirms) in the meantime. What every request holds is counted
    against the memory ``budget``: one that cannot be covered is answered 503
    at once.

    Args:
        publisher: where valid reports go; ``publish`` returns after the broker's confirm.
        metrics: the gateway's Prometheus metrics.
        limits: body size caps.
        retry_after: seconds announced with a 503.
        shutdown_timeout: seconds the publisher gets to collect confirms still in flight at shutdown.
        budget: the memory requests in flight may hold (see ``ingest.budget``); unbounded if None.
        trimmer: gives memory back to the system after a large request.
        floods: the per-cluster and per-source limits (``ingest.limits``); none if None.
        sources: how the source address is found (``ingest.sources``), for ``floods``.
    """

    def __init__(
        self,
        *,
        publisher: Publisher,
        metrics: IngestMetrics,
        limits: BodyLimits,
        retry_after: int,
        shutdown_timeout: float,
        budget: MemoryBudget | None = None,
        trimmer: HeapTrimmer | None = None,
        floods: FloodLimits | None = None,
        sources: SourceResolver | None = None,
    ) -> None:
        self._floods = floods
        self._sources = sources or SourceResolver()
        if floods is not None:
            floods.on_new = metrics.new_clusters.inc
        self._budget = budget or MemoryBudget(2**62, small_reserve=0)
        self._trimmer = trimmer or HeapTrimmer()
        metrics.track_budget(lambda: self._budget.in_use)
        self._publisher = publisher
        self._metrics = metrics
        self._limits = limits
        self._retry_after = str(retry_after).encode()
        self._not_stored = [detail(f"the report was not stored; retry in {retry_after} seconds")]
        self._shutdown_timeout = shutdown_timeout
        self._large_documents = Offloader()
        self._version = gateway_version()
        self._openapi = openapi_bytes(self._version)
        self._gets: dict[str, Callable[[], Outcome]] = {
            "/healthz": self._healthz,
            "/readyz": self._readyz,
            "/version": lambda: json_outcome(200, {"version": self._version, "schemaVersion": SCHEMA_VERSION}),
            "/metrics": lambda: Outcome(200, self._metrics.render(), METRICS_CONTENT_TYPE.encode()),
            "/openapi.json": lambda: Outcome(200, self._openapi),
        }

    @property
    def routes(self) -> dict[str, str]:
        """The app's one route table: each path and the operation it documents (``/openapi.json`` must agree)."""
        return {"/api/v1": "post", **dict.fromkeys(self._gets, "get")}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path: str = scope["path"]
        method: str = scope["method"]
        if path in SUBMIT_PATHS:
            outcome = await self._submit(scope, receive) if method == "POST" else _not_allowed("POST")
            self._metrics.count_request(outcome.status)
        elif (route := self._gets.get(path)) is not None:
            outcome = route() if method in {"GET", "HEAD"} else _not_allowed("GET, HEAD")
        else:
            outcome = Outcome(404, not_found_body(path))
        if outcome.status != CLIENT_CLOSED:
            await _send(send, outcome)
        access_log.write(method, path, outcome.status, started, outcome.fields)

    async def _submit(self, scope: Scope, receive: Receive) -> Outcome:
        heads = _RequestHeads.of(scope)
        lease = self._budget.lease()
        try:
            check_media_type(heads.content_type)
            gzip = is_gzip(heads.content_encoding)
            declared = content_length(heads.length)
            if declared is not None and declared <= self._limits.max_raw:
                lease.take(declared)  # before reading: a refusal costs no body
            document, received = await read_body(
                receive,
                declared=declared,
                gzip=gzip,
                limits=self._limits,
                count=self._metrics.count_received,
                hold=lease.grow_to,
            )
            accepted = await self._accept(document, lease, heads.signature)
            del document
            if (refusal := self._admit(accepted, scope, heads.forwarded_for)) is not None:
                return self._too_many(refusal, accepted)
            if lease.held > SMALL_REQUEST:
                # What publishing holds: the body, and pika's frames of it until they are written.
                lease.shrink_to(2 * len(accepted.envelope.body))
            await self._publisher.publish(accepted.envelope)
        except RequestError as e:
            return _client_error(e)
        except OverBudgetError as e:
            return self._over_budget(e, lease)
        except PublishError as e:
            # The client learns that it should retry; which queue, alarm or broker limit it was is for the log.
            outcome = error_outcome(503, e.reason, self._not_stored, error=e.reason, reason=str(e))
            outcome.headers.append((b"retry-after", self._retry_after))
            return outcome
        except ClientDisconnectedError:
            return Outcome(CLIENT_CLOSED, fields={"error": "client closed the connection"})
        finally:
            lease.release()
            if lease.largest > SMALL_REQUEST:
                self._trimmer.request()
        self._metrics.count_verified(accepted.verified)
        return Outcome(
            204, fields={"report_id": accepted.report_id, "cluster_id": accepted.cluster_id[:64], "bytes": received}
        )

    def _admit(self, accepted: Accepted, scope: Scope, forwarded_for: bytes | None) -> Refusal | None:
        if self._floods is None:
            return None
        client = scope.get("client")
        # The address is used here and dropped: it is never logged, stored or published.
        source = self._sources.source(client[0] if client else None, forwarded_for)
        return self._floods.admit(
            cluster_id=accepted.cluster_id, report_id=accepted.report_id, source=source, now=time.time()
        )

    def _too_many(self, refusal: Refusal, accepted: Accepted) -> Outcome:
        self._metrics.count_rate_limited(refusal.reason)
        outcome = error_outcome(
            429,
            "too many reports",
            [detail(f"{refusal.message}; retry in {refusal.retry_after} seconds")],
            error="rate limited",
            reason=refusal.reason,
            cluster_id=accepted.cluster_id[:64],
        )
        outcome.headers.append((b"retry-after", str(refusal.retry_after).encode()))
        return outcome

    def _over_budget(self, error: OverBudgetError, lease: Lease) -> Outcome:
        outcome = error_outcome(
            503,
            "gateway busy",
            [detail("too many large reports in flight; retry later")],
            error="memory budget",
            in_use=error.in_use,
            wanted=error.wanted,
            held=lease.held,
        )
        # The body may be unread: closing is the only way to stop its upload.
        outcome.headers += [(b"retry-after", self._retry_after), (b"connection", b"close")]
        return outcome

    async def _accept(self, document: bytes | bytearray, lease: Lease, signature: bytes | None) -> Accepted:
        received_at = datetime.now(UTC)
        containers = None
        if len(document) <= ON_LOOP_MAX_BYTES:  # a larger one is not even counted on the loop
            containers = document.count(b"{") + document.count(b"[")
            if containers <= ON_LOOP_MAX_CONTAINERS:
                return accept_report(
                    document, received_at=received_at, reserve=lease.take, signature=signature, containers=containers
                )
        accept = functools.partial(
            accept_report,
            document,
            received_at=received_at,
            reserve=lease.take,
            signature=signature,
            containers=containers,
        )
        return await self._large_documents.run(accept)

    def _healthz(self) -> Outcome:
        if self._publisher.alive:
            return json_outcome(200, {"status": "ok"})
        return json_outcome(503, {"status": "failed", "reason": "the broker connection manager stopped"})

    def _readyz(self) -> Outcome:
        if self._publisher.ready:
            return json_outcome(200, {"status": "ready"})
        outcome = json_outcome(503, {"status": "not ready", "reason": "the broker cannot confirm reports now"})
        outcome.headers.append((b"retry-after", self._retry_after))
        return outcome

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._publisher.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._publisher.close(self._shutdown_timeout)
                self._large_documents.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


@dataclass(slots=True)
class _RequestHeads:
    """The request headers the submit route reads, as sent."""

    content_type: bytes | None = None
    content_encoding: bytes | None = None
    length: bytes | None = None
    signature: bytes | None = None
    forwarded_for: bytes | None = None

    @classmethod
    def of(cls, scope: Scope) -> _RequestHeads:
        heads = cls()
        for name, value in scope["headers"]:
            if name == b"content-type":
                heads.content_type = value
            elif name == b"content-encoding":
                heads.content_encoding = value
            elif name == b"content-length":
                heads.length = value
            elif name == SIGNATURE_HEADER:
                heads.signature = value
            elif name == b"x-forwarded-for":
                # Several headers are one comma-separated list (RFC 9110), the last hop last.
                heads.forwarded_for = value if heads.forwarded_for is None else heads.forwarded_for + b"," + value
        return heads


def _client_error(error: RequestError) -> Outcome:
    outcome = error_outcome(error.status, error.error, error.details, error=error.error)
    if error.close:
        outcome.headers.append((b"connection", b"close"))
    return outcome


def _not_allowed(allow: str) -> Outcome:
    outcome = Outcome(405, not_allowed_body(allow))
    outcome.headers.append((b"allow", allow.encode()))
    return outcome


async def _send(send: Send, outcome: Outcome) -> None:
    if outcome.status == 204:
        await send(_NO_CONTENT)
        await send(_EMPTY_BODY)
        return
    headers = [(b"content-type", outcome.content_type), (b"content-length", str(len(outcome.body)).encode())]
    await send({"type": "http.response.start", "status": outcome.status, "headers": headers + outcome.headers})
    await send({"type": "http.response.body", "body": outcome.body})
