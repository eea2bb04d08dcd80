"""The topology on a three-node cluster: both queues replicated everywhere, dead-lettering that loses nothing."""

from __future__ import annotations

import pika
import pytest

from schema.topology import DELIVERY_LIMIT, QueueSpec, topology_for
from tests.support.amqp import blocking_channel
from tests.support.rabbit_cluster import RabbitCluster
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

MESSAGES = 10
HELD_TIMEOUT = 30.0


def declare(url: str, *specs: QueueSpec) -> None:
    """Declare ``specs`` as the gateway and writers do."""
    with blocking_channel(url) as channel:
        for spec in specs:
            channel.queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))


def exhaust_delivery_limit(url: str, queue: str, count: int) -> None:
    """Publish ``count`` messages and return each one until the broker takes it away for its delivery limit."""
    with blocking_channel(url) as channel:
        channel.confirm_delivery()
        for i in range(count):
            channel.basic_publish("", queue, f"poison-{i}".encode(), pika.BasicProperties(delivery_mode=2))
        returns = 0
        while (method := channel.basic_get(queue)[0]) is not None:
            channel.basic_nack(method.delivery_tag, requeue=True)
            returns += 1
        assert returns == count * (DELIVERY_LIMIT + 1), "the delivery limit did not end the returns"


def test_both_queues_are_replicated_on_every_node(cluster: RabbitCluster, cluster_queue: str) -> None:
    topology = topology_for(cluster_queue)
    declare(cluster.urls[1], topology.dead, topology.main)

    everyone = sorted(node.name for node in cluster.nodes)
    assert cluster.queue_members(cluster_queue) == everyone
    assert cluster.queue_members(topology.dead_queue) == everyone


def test_messages_over_the_delivery_limit_wait_while_the_dead_queue_is_missing(
    cluster: RabbitCluster, cluster_queue: str
) -> None:
    topology = topology_for(cluster_queue)
    url = cluster.urls[0]
    declare(url, topology.main)  # the dead queue is missing: deleted by an operator, say

    exhaust_delivery_limit(url, cluster_queue, MESSAGES)
    wait_until(
        lambda: cluster.queue_messages(cluster_queue) == MESSAGES,
        timeout=HELD_TIMEOUT,
        what="the dead-lettered messages held by the main queue",
    )

    declare(url, topology.dead)
    wait_until(
        lambda: cluster.queue_messages(topology.dead_queue) == MESSAGES,
        timeout=HELD_TIMEOUT,
        interval=0.5,
        what="every held message in the dead queue once it exists",
    )
    assert cluster.queue_messages(cluster_queue) == 0


def test_the_earlier_at_most_once_arguments_dropped_them(cluster: RabbitCluster, cluster_queue: str) -> None:
    # Why the arguments changed: at-most-once dead-lettering with no dead queue loses every message.
    at_most_once = QueueSpec(
        cluster_queue,
        {
            k: v
            for k, v in topology_for(cluster_queue).main.arguments.items()
            if k not in {"x-dead-letter-strategy", "x-overflow"}
        },
    )
    url = cluster.urls[0]
    declare(url, at_most_once)

    exhaust_delivery_limit(url, cluster_queue, MESSAGES)

    wait_until(lambda: cluster.queue_messages(cluster_queue) == 0, timeout=HELD_TIMEOUT, what="the messages gone")
