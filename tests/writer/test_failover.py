"""Several broker addresses: a writer consumes through one that answers and moves on when its node goes away.

Two TCP proxies in front of the shared RabbitMQ play two nodes of a cluster (``tests/cluster`` kills real nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.amqp_proxy import AmqpProxy
from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import RunningWriter
from writer.duckdb_sink import DuckDbSink

pytestmark = pytest.mark.integration


@pytest.fixture
def nodes(amqp_url: str) -> Iterator[list[AmqpProxy]]:
    """Two "nodes": proxies to the same broker."""
    broker = urlsplit(amqp_url)
    with (
        AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as one,
        AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as two,
    ):
        yield [one, two]


def connected_port(running: RunningWriter, nodes: list[AmqpProxy]) -> int | None:
    """The port of the node the writer's metrics say it consumes from."""
    for proxy in nodes:
        if running.metric("spartakus_writer_broker_connected", {"node": f"127.0.0.1:{proxy.port}"}) == 1:
            return proxy.port
    return None


def test_losing_the_writers_node_moves_it_to_the_other_and_every_report_is_written(
    amqp_url: str,
    queue_name: str,
    nodes: list[AmqpProxy],
    tmp_path: Path,
    start_writer: Callable[..., RunningWriter],
) -> None:
    sink = DuckDbSink(str(tmp_path / "r.duckdb"))
    brokers = ",".join(proxy.url() for proxy in nodes)
    running = start_writer(queue_name, sink, brokers=brokers, batch_size=20, batch_max_wait=0.2)
    publish(amqp_url, queue_name, report_messages(sample_report(i) for i in range(30)))
    wait_until(lambda: running.written() == 30, timeout=30, what="rows written before the loss")
    first = connected_port(running, nodes)
    assert first is not None

    next(proxy for proxy in nodes if proxy.port == first).cut()
    wait_until(lambda: running.metric("spartakus_writer_reconnects_total") == 1, timeout=30, what="a reconnect")
    publish(amqp_url, queue_name, report_messages(sample_report(100 + i) for i in range(30)))
    wait_until(lambda: running.written() >= 60, timeout=30, what="rows written through the other node")

    assert connected_port(running, nodes) == next(proxy.port for proxy in nodes if proxy.port != first)
    running.shutdown()
    assert queue_counts(amqp_url, queue_name)[0] == 0
    ids = {row[0] for row in sink.fetchall("SELECT reportID FROM reports_dedup")}
    assert len(ids) == 60
    sink.close()
