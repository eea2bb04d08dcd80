"""Broker trouble under traffic: no 2xx without a confirm, 503 while it lasts, recovery without a restart.

The outage, the silence and the resource alarm are played by a TCP proxy
between the gateway and the shared RabbitMQ (``tests/support/amqp_proxy.py``),
so other tests on the broker are not disturbed. One test closes the gateway's
own connection on the broker with ``rabbitmqctl close_connection`` (the command
``SPARTAKUS_TEST_RABBITMQCTL`` names), found by its connection name
(``close_all_connections`` would drop everyone's).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.ingest.broker import take_all
from tests.ingest.gateway import Gateway, go_volunteer_report, running_gateway
from tests.ingest.traffic import Traffic
from tests.support.amqp import blocking_channel
from tests.support.amqp_proxy import AmqpProxy, blocked_frame, unblocked_frame
from tests.support.broker_admin import close_connections, connections_named
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

FAST_FAILURE = ["--confirm-timeout", "1s", "--retry-after", "2"]


@pytest.fixture
def proxy(amqp_url: str) -> Iterator[AmqpProxy]:
    broker = urlsplit(amqp_url)
    with AmqpProxy(broker.hostname or "127.0.0.1", broker.port or 5672) as running:
        yield running


@pytest.fixture
def proxied_gateway(proxy: AmqpProxy, queue_name: str) -> Iterator[Gateway]:
    with running_gateway(proxy.url(), queue_name, FAST_FAILURE) as gateway:
        yield gateway


def stored_clusters(amqp_url: str, queue: str) -> set[str]:
    return {json.loads(message.body)["clusterID"] for message in take_all(amqp_url, queue)}


def reconnects(gateway: Gateway) -> float:
    for line in gateway.get("/metrics").body.decode().splitlines():
        if line.startswith("spartakus_ingest_broker_reconnects_total "):
            return float(line.split()[-1])
    raise AssertionError("reconnect counter missing")


def test_an_outage_during_traffic_is_503_with_retry_after_and_every_204_was_stored(
    amqp_url: str, proxy: AmqpProxy, proxied_gateway: Gateway
) -> None:
    with Traffic(proxied_gateway.port) as traffic:
        wait_until(lambda: 204 in traffic.statuses_since(0), timeout=10, what="traffic to flow")
        proxy.cut()
        cut_at = time.monotonic()
        wait_until(lambda: 503 in traffic.statuses_since(cut_at), timeout=10, what="503 during the outage")
        wait_until(lambda: proxied_gateway.get("/readyz").status == 503, timeout=5, what="readyz 503")
        down_for = time.monotonic()
        wait_until(lambda: len(traffic.statuses_since(down_for)) >= 20, timeout=10, what="requests while down")
        while_down = traffic.statuses_since(down_for)
        proxy.restore()
        restored_at = time.monotonic()
        wait_until(proxied_gateway.is_ready, timeout=15, what="the gateway to reconnect")
        wait_until(lambda: 204 in traffic.statuses_since(restored_at), timeout=10, what="204 after recovery")

    assert set(while_down) == {503}
    assert {answer.status for answer in traffic.answers} <= {204, 503}
    assert all(answer.retry_after == "2" for answer in traffic.answers if answer.status == 503)
    confirmed = {answer.cluster_id for answer in traffic.answers if answer.status == 204}
    assert confirmed <= stored_clusters(amqp_url, proxied_gateway.queue)
    assert reconnects(proxied_gateway) >= 1


def test_a_silent_broker_is_503_after_the_confirm_timeout_and_not_ready_until_it_answers(
    proxy: AmqpProxy, proxied_gateway: Gateway
) -> None:
    proxy.stall()
    started = time.monotonic()

    response = proxied_gateway.post_report(go_volunteer_report())

    assert response.status == 503
    assert response.json()["error"] == "no confirm in time"
    assert 0.9 < time.monotonic() - started < 3
    assert proxied_gateway.get("/readyz").status == 503
    # Still frozen a confirm timeout later: the readiness probe's question is not answered either.
    assert proxied_gateway.post_report(go_volunteer_report()).status == 503
    assert proxied_gateway.get("/readyz").status == 503
    proxy.resume()
    wait_until(proxied_gateway.is_ready, timeout=5, what="readyz 200 once the broker answers")
    assert proxied_gateway.post_report(go_volunteer_report()).status == 204
    messages = [line["message"] for line in proxied_gateway.log_lines()]
    assert "a confirm is overdue; not ready until the broker answers" in messages


def test_a_resource_alarm_is_503_at_once_and_not_ready_until_it_clears(proxy: AmqpProxy, queue_name: str) -> None:
    # A long confirm timeout: the 503 must come from the alarm, not from waiting it out.
    with running_gateway(proxy.url(), queue_name, ["--confirm-timeout", "30s"]) as gateway:
        proxy.inject(blocked_frame("low on memory"))
        wait_until(lambda: gateway.get("/readyz").status == 503, timeout=5, what="readyz 503 when blocked")
        started = time.monotonic()

        response = gateway.post_report(go_volunteer_report())

        assert response.status == 503
        assert response.json()["error"] == "broker blocked by a resource alarm"
        # The alarm's kind is for the operator's log, not for clients.
        assert "memory" not in response.body.decode()
        wait_until(
            lambda: any("low on memory" in line.get("reason", "") for line in gateway.log_lines()),
            timeout=5,
            what="the alarm in the log",
        )
        assert time.monotonic() - started < 5
        proxy.inject(unblocked_frame())
        wait_until(gateway.is_ready, timeout=5, what="readyz 200 when unblocked")
        assert gateway.post_report(go_volunteer_report()).status == 204


def test_a_deleted_queue_is_503_then_declared_again(amqp_url: str, queue_name: str) -> None:
    with running_gateway(amqp_url, queue_name) as gateway:
        with blocking_channel(amqp_url) as channel:
            channel.queue_delete(queue_name)

        first = gateway.post_report(go_volunteer_report())

        assert first.status == 503
        assert first.json()["error"] == "report queue missing"
        assert first.json()["details"] == [{"message": "the report was not stored; retry in 5 seconds"}]
        assert queue_name not in first.body.decode()
        wait_until(
            lambda: any(queue_name in line.get("reason", "") for line in gateway.log_lines()),
            timeout=5,
            what="the queue named in the log",
        )
        wait_until(lambda: gateway.post_report(go_volunteer_report()).status == 204, timeout=10, what="recovery")


def test_closing_the_gateway_connection_on_the_broker_is_recovered_from(amqp_url: str, queue_name: str) -> None:
    with running_gateway(amqp_url, queue_name) as gateway, Traffic(gateway.port, threads=2) as traffic:
        wait_until(lambda: 204 in traffic.statuses_since(0), timeout=10, what="traffic to flow")
        [ours] = connections_named(gateway.connection_name)  # only this gateway's connection
        close_connections(lambda connection: connection.pid == ours.pid, "ingest outage test")
        closed_at = time.monotonic()
        wait_until(lambda: reconnects(gateway) >= 1, timeout=15, what="a reconnect")
        wait_until(lambda: 204 in traffic.statuses_since(closed_at), timeout=10, what="204 after reconnecting")

    assert {answer.status for answer in traffic.answers} <= {204, 503}
    confirmed = {answer.cluster_id for answer in traffic.answers if answer.status == 204}
    assert confirmed <= stored_clusters(amqp_url, queue_name)
