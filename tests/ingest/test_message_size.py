"""Against a broker that refuses messages over 16 MiB, as RabbitMQ 4.x does: the largest reports still get through.

The node is the test suite's own (``tests.support.rabbit_node``), configured
with ``max_message_size = 16777216``, RabbitMQ 4.x's default.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator

import pika
import pika.exceptions
import pytest

from schema.message import MAX_MESSAGE_BYTES
from tests.ingest.broker import take_all
from tests.ingest.gateway import Gateway, go_volunteer_report, running_gateway
from tests.ingest.large import LARGEST_CLUSTER, largest_cluster_report
from tests.support.amqp import blocking_channel, unique_queue_name
from tests.support.rabbit_node import rabbit_node

pytestmark = pytest.mark.integration

PEAK_RSS_MB = 250
LARGE_POST_TIMEOUT = 90
"""Seconds a 50 MB report may take to be answered: some 6 s on an idle machine, far more beside a busy suite."""


@pytest.fixture(scope="module")
def small_broker() -> Iterator[str]:
    """A node of our own that refuses messages over 16 MiB."""
    with rabbit_node(f"max_message_size = {MAX_MESSAGE_BYTES}\n") as url:
        yield url


@pytest.fixture(scope="module")
def gateway(small_broker: str) -> Iterator[Gateway]:
    """A gateway with default caps and budget, publishing to the small broker."""
    with running_gateway(small_broker, unique_queue_name("test.ingest.size")) as running:
        yield running
        assert running.stop() == 0


def test_the_node_refuses_a_message_over_16_mib_as_rabbitmq_4_does(small_broker: str) -> None:
    with blocking_channel(small_broker) as channel:
        channel.confirm_delivery()
        queue = channel.queue_declare("", exclusive=True).method.queue
        with pytest.raises(pika.exceptions.AMQPError):
            channel.basic_publish("", queue, bytes(MAX_MESSAGE_BYTES + 1))


def test_the_largest_cluster_report_is_accepted_uncompressed_and_stored_under_16_mib_in_bounded_memory(
    small_broker: str, gateway: Gateway
) -> None:
    body = largest_cluster_report("largest")

    response = gateway.post(body, timeout=LARGE_POST_TIMEOUT)

    assert response.status == 204, response.body
    [message] = take_all(small_broker, gateway.queue)
    assert message.properties.content_encoding == "gzip"
    assert len(message.body) <= MAX_MESSAGE_BYTES
    stored = message.report()
    assert (stored["clusterID"], len(stored["nodes"])) == ("largest", LARGEST_CLUSTER)
    assert stored["nodes"][-1] == json.loads(body)["nodes"][-1]
    assert gateway.memory_kib("VmHWM") / 1024 <= PEAK_RSS_MB


def test_a_report_still_over_16_mib_compressed_is_413_and_the_gateway_keeps_publishing(
    small_broker: str, gateway: Gateway
) -> None:
    # Random text does not compress: 30,000 nodes of 1 KB of it stay over 16 MiB gzipped.
    report = go_volunteer_report("incompressible")
    report["nodes"] = [
        {"id": uuid.uuid4().hex, "osImage": base64.b64encode(os.urandom(750)).decode()} for _ in range(30_000)
    ]

    refused = gateway.post_report(report, timeout=LARGE_POST_TIMEOUT)
    accepted = gateway.post_report(go_volunteer_report("small"))

    assert refused.status == 413
    assert "16777216 bytes even gzip-compressed" in refused.json()["details"][0]["message"]
    assert accepted.status == 204
    assert [message.report()["clusterID"] for message in take_all(small_broker, gateway.queue)] == ["small"]
