"""Floods at the real gateway, from distinct loopback addresses (127.0.0.0/8), against the real RabbitMQ.

A fabricating source gets at most its budget of new cluster ids stored, one
cluster id stores at most a couple of reports, and real reports from other
addresses keep getting 204 meanwhile. The addresses never reach a log line or a message.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, Final

import pytest

from tests.ingest.broker import take_all
from tests.ingest.gateway import Gateway, go_volunteer_report, running_gateway
from tests.support.amqp import delete_queues, unique_queue_name

pytestmark = pytest.mark.integration

BUDGET: Final = 5
FLOODER: Final = "127.0.0.66"
PROXY: Final = "127.0.0.77"


@pytest.fixture(scope="module")
def limited(amqp_url: str) -> Iterator[Gateway]:
    """A gateway with the limits on: 10 minutes per cluster id, 5 new cluster ids an hour per source."""
    queue = unique_queue_name("test.floods")
    args = ["--min-report-interval=10m", f"--new-clusters-per-source={BUDGET}", f"--trusted-proxies={PROXY}/32"]
    with running_gateway(amqp_url, queue, args, floods=True) as gateway:
        yield gateway
        assert gateway.stop() == 0
    delete_queues(amqp_url, queue, f"{queue}.dead")


def report(cluster_id: str, timestamp: int, **changes: Any) -> bytes:
    return json.dumps({**go_volunteer_report(cluster_id), "timestamp": str(timestamp), **changes}).encode()


def metric(gateway: Gateway, series: str) -> float:
    """The value of one series (name and labels as exposed) on ``/metrics``; 0 when absent."""
    for line in gateway.get("/metrics").body.decode().splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_fabricated_clusters_from_one_source_stay_within_its_budget_while_others_get_through(
    amqp_url: str, limited: Gateway
) -> None:
    now = int(time.time())
    take_all(amqp_url, limited.queue)
    flood = [limited.post(report(f"fake-{uuid.uuid4()}", now), source=FLOODER) for _ in range(40)]
    real = [limited.post(report(f"real-{i}-{uuid.uuid4()}", now), source=f"127.0.1.{i}") for i in range(1, 21)]

    assert Counter(a.status for a in flood) == {204: BUDGET, 429: 40 - BUDGET}
    refused = next(a for a in flood if a.status == 429)
    assert 0 < int(refused.headers["retry-after"]) <= 3600 // BUDGET + 1
    assert "too many new cluster ids" in refused.json()["details"][0]["message"]
    assert {a.status for a in real} == {204}
    stored = [d.report()["clusterID"] for d in take_all(amqp_url, limited.queue)]
    assert sum(c.startswith("fake-") for c in stored) == BUDGET
    assert sum(c.startswith("real-") for c in stored) == 20
    assert metric(limited, 'spartakus_ingest_rate_limited_total{reason="new_clusters"}') >= 40 - BUDGET
    assert metric(limited, "spartakus_ingest_new_clusters_total") >= BUDGET + 20


def test_one_cluster_id_stores_at_most_a_couple_of_reports_and_an_exact_retry_still_succeeds(
    amqp_url: str, limited: Gateway
) -> None:
    cluster_id, now = f"busy-{uuid.uuid4()}", int(time.time())
    take_all(amqp_url, limited.queue)
    first = report(cluster_id, now - 100)

    assert limited.post(first, source="127.0.2.1").status == 204
    answers = [limited.post(report(cluster_id, now - 99 + i), source=f"127.0.2.{i + 2}") for i in range(30)]
    retry = limited.post(first, source="127.0.2.1")

    assert {a.status for a in answers} == {429}
    assert 500 < int(answers[0].headers["retry-after"]) <= 600
    assert "reported less than 600 seconds ago" in answers[0].json()["details"][0]["message"]
    assert retry.status == 204, "a retry of the stored report is not a new report"
    stored = [d.report() for d in take_all(amqp_url, limited.queue)]
    assert len({r["reportID"] for r in stored}) == 1
    assert len(stored) <= 2


def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget(amqp_url: str, limited: Gateway) -> None:
    now = int(time.time())

    def via_proxy(forwarded: str) -> int:
        headers = {"Content-Type": "application/json", "X-Forwarded-For": forwarded}
        return limited.post(report(f"proxied-{uuid.uuid4()}", now), headers, source=PROXY).status

    first = [via_proxy("198.51.100.1") for _ in range(BUDGET + 3)]
    second = [via_proxy("1.2.3.4, 198.51.100.2") for _ in range(BUDGET)]
    # From an address that is not a trusted proxy the header is ignored: the peer's own budget applies.
    spoofed = [
        limited.post(
            report(f"spoof-{uuid.uuid4()}", now),
            {"Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{i}"},
            source="127.0.3.1",
        ).status
        for i in range(BUDGET + 3)
    ]

    assert Counter(first) == {204: BUDGET, 429: 3}
    assert set(second) == {204}
    assert Counter(spoofed) == {204: BUDGET, 429: 3}
    take_all(amqp_url, limited.queue)


def test_no_source_address_reaches_the_log_or_the_stored_reports(amqp_url: str, limited: Gateway) -> None:
    marker, cluster_id, now = "127.0.4.9", f"quiet-{uuid.uuid4()}", int(time.time())
    take_all(amqp_url, limited.queue)
    assert limited.post(report(cluster_id, now), source=marker).status == 204
    assert limited.post(report(cluster_id, now + 1), source=marker).status == 429

    delivered = take_all(amqp_url, limited.queue)
    assert len(delivered) == 1
    assert marker.encode() not in delivered[0].body
    text = limited.log_path.read_text()
    for address in ("127.0.4", FLOODER, "198.51.100"):
        assert address not in text
    lines = [line for line in limited.log_lines() if line.get("cluster_id") == cluster_id]
    assert [(line["status"], line.get("reason")) for line in lines] == [(204, None), (429, "cluster_interval")]
