"""The broker-node gauge the gateway and the writers both show: which configured node a process uses now."""

from collections.abc import Iterable

from prometheus_client import Gauge


class BrokerNodeGauge:
    """Keeps ``gauge`` (labelled by ``node``) at 1 for the broker node in use and 0 for every other configured one."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._nodes: list[str] = []

    def declare(self, nodes: Iterable[str]) -> None:
        """Show every configured node (``host:port``), at 0 until a connection to it."""
        self._nodes = list(dict.fromkeys(nodes))
        for node in self._nodes:
            self._gauge.labels(node=node).set(0)

    def connected_to(self, node: str | None) -> None:
        """Mark ``node`` as the one in use (None: connected to none)."""
        for each in self._nodes:
            self._gauge.labels(node=each).set(1 if each == node else 0)
