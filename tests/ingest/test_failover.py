"""Several broker addresses: the gateway uses one that answers and moves to another when its node goes away.

Two TCP proxies in front of the shared RabbitMQ play two nodes of a cluster
(``tests/cluster`` kills real nodes); cutting one looks, to the gateway, like
losing the node it is connected to.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.ingest.broker import take_all
from tests.ingest.gateway import Gateway, running_gateway
from tests.ingest.traffic import Traffic
from tests.support.amqp_proxy import AmqpProxy
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

FAST_FAILURE = ["--confirm-timeout", "1s", "--retry-after", "2"]
RECOVERY_SECONDS = 10.0


@pytest.fixture
def nodes(amqp_url: str) -> Iterator[dict[int, AmqpProxy]]:
    """Two "nodes" by port: proxies to the same broker."""
    broker = urlsplit(amqp_url)
    with (
        AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as one,
        AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as two,
    ):
        yield {one.port: one, two.port: two}


def connected_port(gateway: Gateway) -> int | None:
    """The port of the node the gateway's ``/metrics`` say it publishes to."""
    match = re.search(
        r'^spartakus_ingest_broker_connected\{node="127\.0\.0\.1:(\d+)"\} 1\.0$',
        gateway.get("/metrics").body.decode(),
        re.MULTILINE,
    )
    return int(match.group(1)) if match else None


def addresses(nodes: dict[int, AmqpProxy]) -> str:
    return ",".join(proxy.url() for proxy in nodes.values())


def test_a_gateway_starts_on_the_node_that_answers(nodes: dict[int, AmqpProxy], queue_name: str) -> None:
    down, up = nodes.values()
    down.cut()
    with running_gateway(addresses(nodes), queue_name, FAST_FAILURE) as gateway:
        assert connected_port(gateway) == up.port


def test_losing_the_gateways_node_moves_it_to_the_other_without_a_204_for_an_unconfirmed_report(
    amqp_url: str, nodes: dict[int, AmqpProxy], queue_name: str
) -> None:
    with running_gateway(addresses(nodes), queue_name, FAST_FAILURE) as gateway, Traffic(gateway.port) as traffic:
        wait_until(lambda: 204 in traffic.statuses_since(0), timeout=10, what="traffic to flow")
        first = connected_port(gateway)
        assert first in nodes
        other = next(port for port in nodes if port != first)
        nodes[first].cut()
        wait_until(lambda: connected_port(gateway) == other, timeout=RECOVERY_SECONDS, what="the other node")
        moved_at = time.monotonic()
        wait_until(lambda: 204 in traffic.statuses_since(moved_at), timeout=RECOVERY_SECONDS, what="204 again")

    assert {answer.status for answer in traffic.answers} <= {204, 503}
    assert all(answer.retry_after == "2" for answer in traffic.answers if answer.status == 503)
    confirmed = {answer.cluster_id for answer in traffic.answers if answer.status == 204}
    stored = {json.loads(message.body)["clusterID"] for message in take_all(amqp_url, queue_name)}
    assert confirmed <= stored
