"""Several broker addresses: the gateway uses one that answers and moves to another when its node goes away.

Two TCP proxies in front of the shared RabbitMQ play two nodes of a cluster
(``tests/cluster`` kills real nodes); cutting one looks, to the gateway, like
losing the node it is connected to.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from ingest.amqp.channel import NACKING_CHANNEL_GRACE
from tests.ingest.broker import take_all
from tests.ingest.gateway import Gateway, go_volunteer_report, running_gateway
from tests.ingest.traffic import Traffic
from tests.support.amqp_proxy import AmqpProxy, nack_frame
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


def metric(gateway: Gateway, sample: str) -> float:
    """One sample of the gateway's ``/metrics``."""
    for line in gateway.get("/metrics").body.decode().splitlines():
        if line.startswith(f"{sample} "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} missing")


def test_a_channel_the_broker_nacks_on_is_replaced_and_the_nacked_report_is_503(
    nodes: dict[int, AmqpProxy], queue_name: str
) -> None:
    # RabbitMQ 3.10 nacks every publish on a channel opened while a quorum queue elects a new leader; the broker's
    # nack is played here by the proxy, for the one publish in flight (the gateway publishes on channel 1).
    proxy = next(iter(nodes.values()))
    with running_gateway(proxy.url(), queue_name, FAST_FAILURE) as gateway:
        opened = time.monotonic()
        published = [gateway.post_report(go_volunteer_report()).status for _ in range(3)]
        assert published == [204, 204, 204]
        # The gateway replaces a channel only once it is older than the grace: this test's channel must be.
        wait_until(lambda: time.monotonic() - opened > NACKING_CHANNEL_GRACE, timeout=5, what="an older channel")
        proxy.stall()
        answers: list[int] = []
        sender = threading.Thread(target=lambda: answers.append(gateway.post_report(go_volunteer_report()).status))
        sender.start()
        wait_until(lambda: metric(gateway, "spartakus_ingest_publishes_in_flight") == 1, timeout=5, what="in flight")
        proxy.inject(nack_frame(channel=1, delivery_tag=len(published) + 1))
        sender.join(10)
        proxy.resume()

        assert answers == [503]
        wait_until(
            lambda: metric(gateway, "spartakus_ingest_broker_reconnects_total") == 1, timeout=10, what="a new channel"
        )
        assert gateway.post_report(go_volunteer_report()).status == 204
