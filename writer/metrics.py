"""Prometheus metrics of one writer process, served on ``--metrics-port``.

Each ``WriterMetrics`` has its own registry, so tests can run several writers
in one process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from runtime.broker_gauge import BrokerNodeGauge
from runtime.metrics import MetricSet

_BATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class WriterMetrics:
    """Rows written, batches and their latency, retries, dead-lettered messages, queue depth, what is held."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        metrics = MetricSet("spartakus_writer", self.registry)
        self.rows_written = metrics.counter("rows_written", "Rows the sink durably accepted.", ["sink"])
        self.batches = metrics.counter(
            "batches",
            "Batches by outcome: written, requeued (transient failure), or partly dead-lettered.",
            ["outcome"],
        )
        self.batch_seconds = metrics.histogram(
            "batch_seconds",
            "Time from handing a batch to the sink until it was stored, retries included.",
            _BATCH_BUCKETS,
        )
        self.retries = metrics.counter("retries", "Transient sink failures retried.")
        self.dead_lettered = metrics.counter(
            "dead_lettered", "Messages published to the dead-letter queue, by reason.", ["reason"]
        )
        self.reconnects = metrics.counter("reconnects", "Broker reconnections.")
        self.held_rows = metrics.gauge(
            "held_rows", "Rows received and not yet settled: in the batch being filled, waiting, or being written."
        )
        self.queue_messages = metrics.gauge(
            "queue_messages", "Messages waiting in the queue as the broker last reported (the writer's lag).", ["queue"]
        )
        self.store_unreachable = metrics.gauge(
            "store_unreachable", "1 while writes to the store keep failing and batches are held for it, else 0."
        )
        self.oldest_report_seconds = metrics.gauge(
            "oldest_report_seconds",
            "Age of the oldest report this writer holds unsettled, from when the gateway received it.",
        )
        self.held_bytes = metrics.gauge(
            "held_bytes", "Bytes of message bodies and decoded rows held, bounded by --max-held-bytes."
        )
        self.consuming_paused = metrics.gauge(
            "consuming_paused", "1 while the writer holds its byte budget and takes no more deliveries, else 0."
        )
        self.broker_connected = metrics.gauge(
            "broker_connected",
            "1 for the broker node (host:port) the writer consumes from now, 0 for the others.",
            ["node"],
        )
        self._broker_nodes = BrokerNodeGauge(self.broker_connected)
        self._server: Any = None

    def declare_nodes(self, nodes: Iterable[str]) -> None:
        """Show every configured broker node, at 0 until the writer connects to it."""
        self._broker_nodes.declare(nodes)

    def connected_to(self, node: str | None) -> None:
        """Mark ``node`` as the one in use (None: connected to none)."""
        self._broker_nodes.connected_to(node)

    def serve(self, port: int, host: str = "0.0.0.0") -> int:  # noqa: S104  # a metrics endpoint is scraped from outside the pod
        """Serve ``/metrics`` on ``port`` (0 picks a free one) in a background thread; returns the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        bound: int = server.server_address[1]
        return bound

    def stop(self) -> None:
        """Stop serving."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
