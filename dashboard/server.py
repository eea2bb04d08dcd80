"""Running the dashboard: uvicorn, one process; SIGTERM finishes the requests in flight."""

from __future__ import annotations

import logging

import uvicorn

from dashboard.app import DashboardApp
from dashboard.settings import DashboardSettings
from dashboard.store import Store

log = logging.getLogger("dashboard")


def serve(store: Store, settings: DashboardSettings) -> int:
    """Serve ``store`` on ``settings.host:settings.port`` until stopped; returns the exit code."""
    app = DashboardApp(
        store=store,
        window=settings.window,
        refresh=settings.refresh_seconds(store.dialect),
        min_clusters=settings.min_clusters,
        verified_only=settings.verified_only,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
    )
    server = uvicorn.Server(config)
    log.info(
        "serving",
        extra={
            "url": f"http://{settings.host}:{settings.port}/",
            "store": store.description,
            "window": str(settings.window),
        },
    )
    try:
        server.run()
    except OSError as e:
        log.error("cannot serve", extra={"error": str(e)})  # noqa: TRY400  # the cause is in the message
        return 1
    return 0 if server.started else 1
