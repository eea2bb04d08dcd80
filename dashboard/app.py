"""The dashboard's HTTP routes, as a plain ASGI application.

- ``GET /``: the page; ``GET /assets/<file>``: its scripts and styles, all from the package;
- ``GET /api/adoption``: the JSON document (``dashboard.adoption``);
- ``GET /healthz``: the process is alive; ``GET /metrics``: Prometheus metrics.

Each request to ``/api/adoption`` reads the store on a worker thread, so a
slow store never blocks the page's assets. One read runs at a time, and an
answer younger than ``refresh`` seconds (``--refresh``) is served again: many
people opening the page cost the store (BigQuery bills each query; a DuckDB
writer lets go of its file for every read) one query per refresh at most. A
read that fails serves the last good answer; only before the first is it 503. Requests are logged as JSON lines
without the client address.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any, Final

from dashboard.adoption import MIN_CLUSTERS, adoption
from dashboard.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from dashboard.metrics import DashboardMetrics
from dashboard.page import ASSETS, asset, served_page
from dashboard.store import Store, StoreError
from runtime.http import AccessLog, detail, error_body, not_allowed_body, not_found_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON: Final = "application/json"
HTML: Final = "text/html; charset=utf-8"
RETRY_AFTER_SECONDS: Final = 5
FRESH_SECONDS: Final = 10.0
"""How long an answer is served again unless told (``--refresh``; the CLI's default depends on the store)."""
SECURITY_HEADERS: Final = [
    # Everything the page needs comes from this origin; the policy makes any other request fail loudly.
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'"),
    (b"x-content-type-options", b"nosniff"),
]

ALLOWED: Final = "GET, HEAD"

log = logging.getLogger(__name__)
access_log = AccessLog("dashboard")


class DashboardApp:
    """The ASGI application over one store."""

    def __init__(
        self,
        *,
        store: Store,
        window: timedelta,
        metrics: DashboardMetrics | None = None,
        refresh: float = FRESH_SECONDS,
        min_clusters: int = MIN_CLUSTERS,
        verified_only: bool = False,
    ) -> None:
        self._store = store
        self._window = window
        self._refresh = refresh
        self._min_clusters = min_clusters
        self._verified_only = verified_only
        self._page = served_page()
        self.metrics = metrics or DashboardMetrics()
        self._reading = asyncio.Lock()
        self._last: tuple[float, bytes] | None = None
        """When the last answer was read (monotonic clock), and its body."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request; lifespan events are accepted and ignored."""
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": message["type"] + ".complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        status, content_type, body = await self._route(method, path)
        headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache"), *SECURITY_HEADERS]
        if status == 503:
            headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
        elif status == 405:
            headers.append((b"allow", ALLOWED.encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
        self.metrics.requests.labels(route=_route_label(path, status), status=str(status)).inc()
        access_log.write(method, path, status, started, None)

    async def _route(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in {"GET", "HEAD"}:
            return 405, JSON, not_allowed_body(ALLOWED)
        if path == "/api/adoption":
            return await self._adoption()
        return self._fixed(path)

    def _fixed(self, path: str) -> tuple[int, str, bytes]:
        if path in {"/", "/index.html"}:
            return 200, HTML, self._page
        if path == "/healthz":
            return 200, JSON, b'{"status":"ok"}'
        if path == "/metrics":
            return 200, METRICS_CONTENT_TYPE, self.metrics.exposition()
        name = path.removeprefix("/assets/")
        if path.startswith("/assets/") and name in ASSETS:
            return 200, ASSETS[name], asset(name)
        return 404, JSON, not_found_body(path)

    async def _adoption(self) -> tuple[int, str, bytes]:
        async with self._reading:
            if self._last is not None and time.monotonic() - self._last[0] < self._refresh:
                return 200, JSON, self._last[1]
            started = time.monotonic()
            billed = self._store.bytes_billed
            try:
                data = await asyncio.to_thread(
                    adoption,
                    self._store,
                    window=self._window,
                    min_clusters=self._min_clusters,
                    verified_only=self._verified_only,
                )
            except StoreError as e:
                self.metrics.store_errors.inc()
                log.warning("store unavailable", extra={"store": self._store.description, "error": str(e)})
                if self._last is not None:
                    # Tried again at the next refresh; meanwhile the last good answer stands.
                    self._last = (time.monotonic(), self._last[1])
                    return 200, JSON, self._last[1]
                return 503, JSON, error_body("store unavailable", [detail(str(e))])
            finally:
                self.metrics.bytes_billed.inc(max(0, self._store.bytes_billed - billed))
            self.metrics.query_seconds.observe(time.monotonic() - started)
            body = json.dumps(data, separators=(",", ":")).encode()
            self._last = (time.monotonic(), body)
            return 200, JSON, body


ROUTES: Final = frozenset({"/", "/api/adoption", "/healthz", "/metrics"})


def _route_label(path: str, status: int) -> str:
    # A bounded set of labels: any path a client makes up counts as "other".
    if status == 404:
        return "other"
    return "/assets" if path.startswith("/assets/") else path if path in ROUTES else "other"
