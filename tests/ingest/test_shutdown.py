"""SIGTERM: stop accepting, answer the requests whose confirms are still in flight, then exit cleanly."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest

from tests.ingest.broker import take_all
from tests.ingest.gateway import Gateway, Response, go_volunteer_report, running_gateway
from tests.support.amqp_proxy import AmqpProxy
from tests.support.services import port_open, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(amqp_url: str) -> Iterator[AmqpProxy]:
    broker = urlsplit(amqp_url)
    with AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as running:
        yield running


def in_flight(gateway: Gateway) -> float:
    for line in gateway.get("/metrics").body.decode().splitlines():
        if line.startswith("spartakus_ingest_publishes_in_flight "):
            return float(line.split()[-1])
    raise AssertionError("in-flight gauge missing")


def test_sigterm_waits_for_the_confirms_in_flight_then_exits_0(
    amqp_url: str, proxy: AmqpProxy, queue_name: str
) -> None:
    with running_gateway(proxy.url(), queue_name, ["--confirm-timeout", "20s"]) as gateway:
        proxy.stall()  # the broker's confirms are held back: the requests below stay in flight
        answers: dict[str, Response] = {}
        clusters = [f"shutdown-{i}" for i in range(5)]

        def post(cluster: str) -> None:
            answers[cluster] = gateway.post_report(go_volunteer_report(cluster))

        posting = [threading.Thread(target=post, args=(cluster,)) for cluster in clusters]
        for thread in posting:
            thread.start()
        wait_until(lambda: in_flight(gateway) == len(clusters), timeout=10, what="5 publishes in flight")

        gateway.process.terminate()
        wait_until(lambda: not port_open("127.0.0.1", gateway.port), timeout=10, what="the port to close")
        assert gateway.process.poll() is None  # still waiting for the confirms
        proxy.resume()
        for thread in posting:
            thread.join(timeout=20)

        assert gateway.process.wait(timeout=20) == 0
    assert {cluster: answer.status for cluster, answer in answers.items()} == dict.fromkeys(clusters, 204)
    stored = {json.loads(message.body)["clusterID"] for message in take_all(amqp_url, queue_name)}
    assert stored == set(clusters)


def test_two_workers_share_the_port_and_stop_together(amqp_url: str, queue_name: str) -> None:
    with running_gateway(amqp_url, queue_name, ["--workers", "2"]) as gateway:
        workers = psutil.Process(gateway.process.pid).children()
        assert len(workers) == 2
        wait_until(lambda: all(gateway.is_ready() for _ in range(10)), timeout=15, what="both workers ready")

        statuses = [gateway.post_report(go_volunteer_report(f"w-{i}")).status for i in range(20)]

        assert statuses == [204] * 20
        assert gateway.stop() == 0
        assert not any(worker.is_running() for worker in workers)
    assert len(take_all(amqp_url, queue_name)) == 20
