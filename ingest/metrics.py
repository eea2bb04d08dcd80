"""Prometheus metrics of the gateway, in a registry of its own per app.

A registry per app (rather than the process-global default) lets tests run
several gateways in one process. Label children for every status the gateway
answers are created up front, so the hot path does no label lookup.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runtime.broker_gauge import BrokerNodeGauge
from runtime.connections import CLOSE_REASONS

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST

STATUSES: Final = (200, 204, 400, 401, 403, 404, 405, 413, 415, 422, 429, 503)
RATE_LIMIT_REASONS: Final = ("cluster_interval", "new_clusters")


# Confirms on a healthy broker take about a millisecond; the top buckets show
# a struggling broker long before requests hit the confirm timeout.
CONFIRM_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class IngestMetrics:
    """The gateway's counters, gauges and histogram."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "spartakus_ingest_requests",
            "Report submissions (POST /api/v1) by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self._by_status = {status: self.requests.labels(status=str(status)) for status in STATUSES}
        self.confirm_seconds = Histogram(
            "spartakus_ingest_publish_confirm_seconds",
            "Time from publish to the broker's confirm, for confirmed reports.",
            buckets=CONFIRM_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "spartakus_ingest_publishes_in_flight",
            "Publishes sent to the broker and not yet confirmed.",
            registry=self.registry,
        )
        self.reconnects = Counter(
            "spartakus_ingest_broker_reconnects",
            "Connections to the broker re-established after a loss.",
            registry=self.registry,
        )
        self.bytes_received = Counter(
            "spartakus_ingest_received_bytes",
            "Request body bytes received on POST /api/v1, as sent (before gzip inflation).",
            registry=self.registry,
        )
        self.budget_in_use = Gauge(
            "spartakus_ingest_inflight_bytes",
            "Bytes of memory requests in flight hold or will hold, counted against --max-inflight-bytes.",
            registry=self.registry,
        )
        self.published = Counter(
            "spartakus_ingest_reports_published",
            "Reports the broker confirmed.",
            registry=self.registry,
        )
        self.connections_closed = Counter(
            "spartakus_ingest_connections_closed",
            "Connections the gateway closed or refused to stay within its limits, by reason: header_too_large "
            "(431), header_timeout, body_timeout, evicted (closed to make room), refused (503 at the connection "
            "limit), dropped (closed at once, too many waiting for their 503).",
            ["reason"],
            registry=self.registry,
        )
        self._by_reason = {reason: self.connections_closed.labels(reason=reason) for reason in CLOSE_REASONS}
        self.open_connections = Gauge(
            "spartakus_ingest_open_connections",
            "HTTP connections open, within the connection limit.",
            registry=self.registry,
        )
        self.broker_connected = Gauge(
            "spartakus_ingest_broker_connected",
            "1 for the broker node (host:port) the gateway publishes to now, 0 for the others.",
            ["node"],
            registry=self.registry,
        )
        self._broker_nodes = BrokerNodeGauge(self.broker_connected)
        self.rate_limited = Counter(
            "spartakus_ingest_rate_limited",
            "Reports answered 429, by reason: cluster_interval (a cluster id reporting faster than "
            "--min-report-interval) or new_clusters (a source past --new-clusters-per-source).",
            ["reason"],
            registry=self.registry,
        )
        self._by_limit = {reason: self.rate_limited.labels(reason=reason) for reason in RATE_LIMIT_REASONS}
        self.new_clusters = Counter(
            "spartakus_ingest_new_clusters",
            "Cluster ids this gateway had not seen recently, admitted; increase(...[1h]) is new clusters an hour.",
            registry=self.registry,
        )
        self.reports_verified = Counter(
            "spartakus_ingest_reports_accepted",
            "Reports stored (confirmed), by whether a signature proved their cluster id (verified=true|false).",
            ["verified"],
            registry=self.registry,
        )
        self._by_verified = {flag: self.reports_verified.labels(verified=str(flag).lower()) for flag in (True, False)}

    def count_rate_limited(self, reason: str) -> None:
        """Count one report answered 429 for ``reason`` (one of ``RATE_LIMIT_REASONS``)."""
        self._by_limit[reason].inc()

    def count_verified(self, verified: bool) -> None:
        """Count one stored report, verified or not."""
        self._by_verified[verified].inc()

    def count_connections_closed(self, reason: str, count: int) -> None:
        """Count ``count`` connections closed or refused for ``reason`` (one of ``CLOSE_REASONS``)."""
        self._by_reason[reason].inc(count)

    def declare_nodes(self, nodes: Iterable[str]) -> None:
        """Show every configured broker node, at 0 until the gateway connects to it."""
        self._broker_nodes.declare(nodes)

    def connected_to(self, node: str | None) -> None:
        """Mark ``node`` as the one in use (None: connected to none)."""
        self._broker_nodes.connected_to(node)

    def count_request(self, status: int) -> None:
        """Count one POST /api/v1 answered with ``status``."""
        child = self._by_status.get(status)
        if child is None:
            child = self._by_status[status] = self.requests.labels(status=str(status))
        child.inc()

    def track_in_flight(self, source: Callable[[], float]) -> None:
        """Read the in-flight gauge from ``source`` at scrape time (no cost per publish)."""
        self.in_flight.set_function(source)

    def track_budget(self, source: Callable[[], float]) -> None:
        """Read the in-flight bytes gauge from ``source`` at scrape time."""
        self.budget_in_use.set_function(source)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)
