"""Prometheus metrics of the dashboard, in a registry of its own per app (so tests can run several)."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runtime.connections import ConnectionMetrics
from runtime.metrics import MetricSet

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# A read of a busy DuckDB file waits for the writer's batch; BigQuery answers in seconds.
QUERY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class DashboardMetrics:
    """Requests by path and status, how long the store took to answer the adoption query, and connections."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        metrics = MetricSet("spartakus_dashboard", self.registry)
        self.requests = metrics.counter("requests", "HTTP requests by route and status.", ["route", "status"])
        self.query_seconds = metrics.histogram(
            "query_seconds",
            "Time to read the adoption figures from the store, including waiting for the DuckDB file.",
            QUERY_BUCKETS,
        )
        self.bytes_billed = metrics.counter(
            "bytes_billed", "Bytes BigQuery billed for the dashboard's queries (0 for DuckDB)."
        )
        self.store_errors = metrics.counter(
            "store_errors",
            "Reads of the store that failed (answered with the last good answer, or 503 before the first).",
        )
        self.connections = ConnectionMetrics("spartakus_dashboard", self.registry, server="the dashboard")

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
