"""Declaring a component's Prometheus metrics: one name prefix, one registry of its own, one line a metric.

Each component (gateway, writer, dashboard) keeps its metrics in a registry of
its own, so that tests can run several in one process; ``MetricSet`` names
each metric ``<prefix>_<name>`` there.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class MetricSet:
    """Makes the metrics of one component, each named ``<prefix>_<name>`` in ``registry``."""

    def __init__(self, prefix: str, registry: CollectorRegistry) -> None:
        self.prefix = prefix
        self.registry = registry

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """A counter (exposed with the ``_total`` suffix)."""
        return Counter(f"{self.prefix}_{name}", documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge."""
        return Gauge(f"{self.prefix}_{name}", documentation, labels, registry=self.registry)

    def histogram(
        self, name: str, documentation: str, buckets: Sequence[float], labels: Sequence[str] = ()
    ) -> Histogram:
        """A histogram with ``buckets`` (seconds, for the durations it is used for)."""
        return Histogram(f"{self.prefix}_{name}", documentation, labels, buckets=buckets, registry=self.registry)
