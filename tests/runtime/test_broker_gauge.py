"""The broker-node gauge shows every configured node and marks only the one in use."""

from prometheus_client import CollectorRegistry, Gauge

from runtime.broker_gauge import BrokerNodeGauge


def _values(registry: CollectorRegistry) -> dict[str, float]:
    return {
        sample.labels["node"]: sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "test_broker_connected"
    }


def test_every_configured_node_shows_and_only_the_node_in_use_is_one() -> None:
    registry = CollectorRegistry()
    nodes = BrokerNodeGauge(Gauge("test_broker_connected", "node in use", ["node"], registry=registry))

    nodes.declare(["a:5672", "b:5672", "a:5672"])
    assert _values(registry) == {"a:5672": 0.0, "b:5672": 0.0}

    nodes.connected_to("b:5672")
    assert _values(registry) == {"a:5672": 0.0, "b:5672": 1.0}

    nodes.connected_to(None)
    assert _values(registry) == {"a:5672": 0.0, "b:5672": 0.0}
