"""Prometheus metrics of the gateway, in a registry of its own per app.

A registry per app (rather than the process-global default) lets tests run
several gateways in one process. What every report counts (its status, its
bytes, whether it was verified) is added up in plain integers on the event
loop and handed to the counters when the registry is rendered: an increment
costs no lock and no label lookup, and a scrape sees every request answered
before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runtime.broker_gauge import BrokerNodeGauge
from runtime.connections import ConnectionMetrics
from runtime.metrics import MetricSet

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
        metrics = MetricSet("spartakus_ingest", self.registry)
        self.requests = metrics.counter("requests", "Report submissions (POST /api/v1) by HTTP status.", ["status"])
        self._by_status = {status: self.requests.labels(status=str(status)) for status in STATUSES}
        self.confirm_seconds = metrics.histogram(
            "publish_confirm_seconds",
            "Time from publish to the broker's confirm, for confirmed reports.",
            CONFIRM_BUCKETS,
        )
        self.in_flight = metrics.gauge("publishes_in_flight", "Publishes sent to the broker and not yet confirmed.")
        self.reconnects = metrics.counter("broker_reconnects", "Connections to the broker re-established after a loss.")
        self.bytes_received = metrics.counter(
            "received_bytes", "Request body bytes received on POST /api/v1, as sent (before gzip inflation)."
        )
        self.budget_in_use = metrics.gauge(
            "inflight_bytes",
            "Bytes of memory requests in flight hold or will hold, counted against --max-inflight-bytes.",
        )
        self.published = metrics.counter("reports_published", "Reports the broker confirmed.")
        self.connections = ConnectionMetrics("spartakus_ingest", self.registry, server="the gateway")
        self.broker_connected = metrics.gauge(
            "broker_connected",
            "1 for the broker node (host:port) the gateway publishes to now, 0 for the others.",
            ["node"],
        )
        self._broker_nodes = BrokerNodeGauge(self.broker_connected)
        self.rate_limited = metrics.counter(
            "rate_limited",
            "Reports answered 429, by reason: cluster_interval (a cluster id reporting faster than "
            "--min-report-interval) or new_clusters (a source past --new-clusters-per-source).",
            ["reason"],
        )
        self._by_limit = {reason: self.rate_limited.labels(reason=reason) for reason in RATE_LIMIT_REASONS}
        self.new_clusters = metrics.counter(
            "new_clusters",
            "Cluster ids this gateway had not seen recently, admitted; increase(...[1h]) is new clusters an hour.",
        )
        self.reports_verified = metrics.counter(
            "reports_accepted",
            "Reports stored (confirmed), by whether a signature proved their cluster id (verified=true|false).",
            ["verified"],
        )
        self._by_verified = {flag: self.reports_verified.labels(verified=str(flag).lower()) for flag in (True, False)}
        # Counted since the last render, by status; bytes; by verified.
        self._statuses: dict[int, int] = {}
        self._bytes = 0
        self._verified = {True: 0, False: 0}

    def count_rate_limited(self, reason: str) -> None:
        """Count one report answered 429 for ``reason`` (one of ``RATE_LIMIT_REASONS``)."""
        self._by_limit[reason].inc()

    def count_verified(self, verified: bool) -> None:
        """Count one stored report, verified or not."""
        self._verified[verified] += 1

    def count_received(self, size: int) -> None:
        """Count ``size`` bytes of a request body received."""
        self._bytes += size

    def declare_nodes(self, nodes: Iterable[str]) -> None:
        """Show every configured broker node, at 0 until the gateway connects to it."""
        self._broker_nodes.declare(nodes)

    def connected_to(self, node: str | None) -> None:
        """Mark ``node`` as the one in use (None: connected to none)."""
        self._broker_nodes.connected_to(node)

    def count_request(self, status: int) -> None:
        """Count one POST /api/v1 answered with ``status``."""
        statuses = self._statuses
        statuses[status] = statuses.get(status, 0) + 1

    def track_in_flight(self, source: Callable[[], float]) -> None:
        """Read the in-flight gauge from ``source`` at scrape time (no cost per publish)."""
        self.in_flight.set_function(source)

    def track_budget(self, source: Callable[[], float]) -> None:
        """Read the in-flight bytes gauge from ``source`` at scrape time."""
        self.budget_in_use.set_function(source)

    def render(self) -> bytes:
        """The registry in Prometheus text format."""
        self._hand_over()
        return generate_latest(self.registry)

    def _hand_over(self) -> None:
        """Add what was counted since the last render to the counters."""
        for status, count in self._statuses.items():
            child = self._by_status.get(status)
            if child is None:
                child = self._by_status[status] = self.requests.labels(status=str(status))
            child.inc(count)
        self._statuses.clear()
        if self._bytes:
            self.bytes_received.inc(self._bytes)
            self._bytes = 0
        for flag, count in self._verified.items():
            if count:
                self._by_verified[flag].inc(count)
                self._verified[flag] = 0
