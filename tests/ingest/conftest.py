"""Fixtures of the gateway tests: a real gateway process on a queue of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ingest.gateway import Gateway, running_gateway
from tests.support.amqp import blocking_channel, delete_queues, unique_queue_name

RAW_CAP = 2 * 1024 * 1024
INFLATED_CAP = 256 * 1024


@pytest.fixture(scope="module")
def module_queue(amqp_url: str) -> Iterator[str]:
    """A report queue for one test module; it and its dead-letter queue are deleted afterwards."""
    name = unique_queue_name("test.ingest")
    yield name
    delete_queues(amqp_url, name, f"{name}.dead")


@pytest.fixture(scope="module")
def gateway(amqp_url: str, module_queue: str) -> Iterator[Gateway]:
    """A gateway shared by a module's tests, with small caps: 2 MiB as sent, 256 KiB inflated."""
    args = ["--max-body-bytes", str(RAW_CAP), "--max-decompressed-bytes", str(INFLATED_CAP)]
    with running_gateway(amqp_url, module_queue, args) as running:
        yield running
        assert running.stop() == 0


@pytest.fixture
def empty_queue(amqp_url: str, gateway: Gateway) -> str:
    """The shared gateway's queue, emptied before the test."""
    with blocking_channel(amqp_url) as channel:
        channel.queue_purge(gateway.queue)
    return gateway.queue
