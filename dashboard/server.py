"""Running the dashboard: uvicorn, one process; SIGTERM finishes the requests in flight.

The server is bounded as the gateway is (``runtime.connections``): a request
head over ``--max-header-bytes`` gets 431, a head (or body) not sent within
``--header-timeout`` and a connection idle for ``--idle-timeout`` are closed,
and at ``--max-connections`` the longest-idle connection makes room, or the
newcomer gets 503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
from typing import Final

import uvicorn

from dashboard.app import RETRY_AFTER_SECONDS, DashboardApp
from dashboard.metrics import DashboardMetrics
from dashboard.settings import DashboardSettings
from dashboard.store import Store
from runtime.connections import ConnectionGuard, ConnectionLimits, connection_budget, guarded_protocol

DEFAULT_MAX_CONNECTIONS: Final = 1024
"""Open connections when the operator sets no limit: a page view takes a few, a busy public page some hundreds."""
LISTEN_BACKLOG: Final = 2048

log = logging.getLogger("dashboard")


def build_guard(settings: DashboardSettings, metrics: DashboardMetrics) -> ConnectionGuard:
    """The connection limits of the dashboard process, from ``settings`` and the file limit."""
    timeout = settings.header_timeout.total_seconds()
    limits = ConnectionLimits(
        max_connections=connection_budget(settings.max_connections or DEFAULT_MAX_CONNECTIONS),
        max_header_bytes=settings.max_header_bytes,
        header_timeout=timeout,
        body_timeout=timeout,  # the dashboard takes no request bodies; one that trickles is an attack
    )
    return ConnectionGuard(limits, metrics.connections, RETRY_AFTER_SECONDS, busy_error="dashboard busy")


def serve(store: Store, settings: DashboardSettings) -> int:
    """Serve ``store`` on ``settings.host:settings.port`` until stopped; returns the exit code."""
    metrics = DashboardMetrics()
    app = DashboardApp(
        store=store,
        window=settings.window,
        metrics=metrics,
        refresh=settings.refresh_seconds(store.dialect),
        min_clusters=settings.min_clusters,
        verified_only=settings.verified_only,
    )
    guard = build_guard(settings, metrics)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(guard),
        ws="none",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=max(1, round(settings.idle_timeout.total_seconds())),
    )
    server = uvicorn.Server(config)
    log.info(
        "serving",
        extra={
            "url": f"http://{settings.host}:{settings.port}/",
            "store": store.description,
            "window": str(settings.window),
            "max_connections": guard.limits.max_connections,
        },
    )
    try:
        server.run()
    except OSError as e:
        log.error("cannot serve", extra={"error": str(e)})  # noqa: TRY400  # the cause is in the message
        return 1
    return 0 if server.started else 1
