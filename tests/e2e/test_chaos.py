"""Chaos: 2,000 reports from concurrent senders while the broker drops our connections and a writer is killed.

Sixteen senders post 2,000 distinct reports to a real gateway, each retrying
its report until it is answered 204. Meanwhile the broker closes the AMQP
connections of this test's gateway and writers once (``rabbitmqctl
close_connection``, through ``SPARTAKUS_TEST_RABBITMQCTL``; never anyone else's:
the broker is shared), and one of the
two writers is ``kill -9``'d and started again. Both faults land while reports
are still arriving. Once the queue is drained, every report answered 204 must
be in the BigQuery dedup view exactly once: lost must be 0. Duplicated rows
(redeliveries after the kill, or a publish confirmed after its request had
been answered 503) are expected and only counted.
"""

from __future__ import annotations

import json
import shlex
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Final

import pytest

from schema.report import derive_report_id, parse_report
from tests.e2e.conftest import BigQueryStore
from tests.support.amqp import message_count
from tests.support.broker_admin import (
    BrokerConnection,
    amqp_client_ports,
    broker_port,
    can_administer,
    close_connections,
    rabbitmqctl_command,
)
from tests.support.pipeline import Gateway, Pipeline, rows_written, writer_metric
from tests.support.report_senders import SenderPool, SendRecord
from tests.support.services import missing_service, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPORTS: Final = 2000
SENDERS: Final = 16
SEND_RATE: Final = 120.0
"""Attempts per second: about 17 s of sending. Each fault takes seconds to inject (rabbitmqctl, a writer's
reconnect), and both must land while reports are still arriving, on a busy machine too."""
SEND_DEADLINE: Final = 150.0
"""Seconds the senders get for all 2,000 reports, retries included."""
CHAOS_STEP_TIMEOUT: Final = 60.0
DRAIN_TIMEOUT: Final = 90.0
WRITER_ARGS: Final = ("--batch-size=100", "--batch-max-wait=200ms")
"""Small batches: several are in flight at any moment, so the kill catches rows written but not yet acked."""
WRITERS: Final = ("writer-1", "writer-2")


def chaos_reports(run: str, count: int = REPORTS) -> list[tuple[str, bytes]]:
    """``count`` distinct reports (own cluster id each), as ``(the report id the gateway derives, body)``."""
    reports = []
    now = int(time.time())
    for _ in range(count):
        body = {
            "version": "v2.0.0",
            "timestamp": str(now),
            "clusterID": str(uuid.uuid4()),
            "masterVersion": "v1.31.1",
            "nodes": [
                {
                    "id": uuid.uuid4().hex,
                    "operatingSystem": "linux",
                    "kubeletVersion": "v1.31.1",
                    "cloudProvider": "gce",
                    "capacity": [{"resource": "cpu", "value": "4"}, {"resource": "memory", "value": "16393220Ki"}],
                }
                for _ in range(3)
            ],
            "extensions": [{"name": "example.com/run", "value": run}],
        }
        raw = json.dumps(body).encode()
        # The gateway stores a report under the id of its content, as derive_report_id gives it.
        reports.append((derive_report_id(parse_report(raw)), raw))
    return reports


@dataclass
class StoreCounts:
    """What the BigQuery table and its dedup view hold for this run."""

    rows: int
    distinct_ids: int
    view_ids: set[str]


def store_counts(store: BigQueryStore) -> StoreCounts:
    """Rows and distinct report ids in the table, and the ids the dedup view shows."""
    # Table names are the test's own.
    totals = store.query(f"SELECT COUNT(*) AS n, COUNT(DISTINCT reportID) AS d FROM `{store.table}`")  # noqa: S608
    ids = store.query(f"SELECT reportID FROM `{store.view}`")  # noqa: S608
    rows, distinct = (int(totals[0]["n"]), int(totals[0]["d"])) if totals else (0, 0)
    return StoreCounts(rows, distinct, {str(next(iter(row.values()))) for row in ids})


def start_writer(pipeline: Pipeline, store: BigQueryStore, name: str) -> int:
    """Start writer ``name`` into the store; returns its metrics port."""
    return pipeline.writer(name, store.database, *WRITER_ARGS, env=store.writer_env)


def writer_broker_ports(pipeline: Pipeline) -> dict[str, set[int]]:
    """Each running writer's client ports to the broker."""
    return {
        name: amqp_client_ports([process.process.pid], broker_port(pipeline.amqp_url))
        for name, process in pipeline.processes.items()
        if name in WRITERS and process.process is not None and process.alive()
    }


def both_writers_connected(pipeline: Pipeline) -> bool:
    """Whether each writer holds its one broker connection (a restarted writer connects after it serves metrics)."""
    ports = writer_broker_ports(pipeline)
    return len(ports) == len(WRITERS) and all(len(p) == 1 for p in ports.values())


def close_our_connections(pipeline: Pipeline, gateway: Gateway) -> list[BrokerConnection]:
    """Close the broker connections of this test's gateway (by name) and writers (by client port); only those."""
    writer_ports = set().union(*writer_broker_ports(pipeline).values())

    def ours(connection: BrokerConnection) -> bool:
        return gateway.connection_name in connection.client_properties or connection.peer_port in writer_ports

    closed = close_connections(ours, "chaos")
    assert {c.peer_port for c in closed} >= writer_ports, "a writer's connection was not closed"
    closed_gateway = [c for c in closed if gateway.connection_name in c.client_properties]
    assert closed_gateway, "the gateway's connection was not closed"
    return closed


def reconnects(port: int) -> float:
    """How often a writer has reconnected to the broker."""
    return writer_metric(port, "spartakus_writer_reconnects_total") or 0.0


def inject_faults(
    pipeline: Pipeline, store: BigQueryStore, gateway: Gateway, senders: SenderPool, ports: dict[str, int]
) -> dict[str, int]:
    """While the senders run: close our broker connections, then ``kill -9`` writer-1 and start it again.

    Both faults are injected before the last report is accepted; the restarted writer may come up later.
    Returns how many reports had been accepted when each fault struck.
    """
    struck: dict[str, int] = {}
    wait_until(
        lambda: (
            senders.accepted >= REPORTS // 5
            and both_writers_connected(pipeline)
            and rows_written(ports["writer-1"], "bigquery") > 0
        ),
        timeout=CHAOS_STEP_TIMEOUT,
        what="a fifth of the reports accepted and both writers writing",
    )
    written = rows_written(ports["writer-1"], "bigquery")
    close_our_connections(pipeline, gateway)
    struck["connections closed"] = senders.accepted
    assert struck["connections closed"] < REPORTS, "the connections were closed after the senders had finished"

    wait_until(
        lambda: (
            senders.accepted >= REPORTS // 2
            and all(reconnects(port) >= 1 for port in ports.values())
            and rows_written(ports["writer-1"], "bigquery") > written
        ),
        timeout=CHAOS_STEP_TIMEOUT,
        what="half of the reports accepted, both writers reconnected and writer-1 writing again",
    )
    pipeline.processes["writer-1"].kill()
    struck["writer killed"] = senders.accepted
    assert struck["writer killed"] < REPORTS, "the writer was killed after the senders had finished"
    ports["writer-1"] = start_writer(pipeline, store, "writer-1")
    return struck


def wait_drained(amqp_url: str, queue: str, store: BigQueryStore, ports: dict[str, int], expected: set[str]) -> str:
    """Wait until no message waits in the queue or sits in a writer, and the dedup view shows ``expected``.

    Returns ``""``, or why the wait timed out: the counts that follow say what is missing.
    """

    def drained() -> bool:
        if message_count(amqp_url, queue):
            return False
        if any(writer_metric(port, "spartakus_writer_held_rows") != 0 for port in ports.values()):
            return False
        return store_counts(store).view_ids >= expected

    try:
        wait_until(drained, timeout=DRAIN_TIMEOUT, interval=0.5, what="the queue drained into the dedup view")
    except AssertionError as e:
        return str(e)
    return ""


def print_summary(records: list[SendRecord], counts: StoreCounts, lost: int) -> None:
    """The figures of the run, for ``pytest -s``."""
    answers: Counter[str] = Counter()
    for record in records:
        answers.update(record.answers)
    retried = sum(1 for record in records if record.attempts > 1)
    print(
        f"chaos: {len(records)} reports, {answers['204']} answered 204, {retried} needed retries, "
        f"answers {dict(sorted(answers.items()))}",
        flush=True,
    )
    print(
        f"chaos: table rows {counts.rows}, distinct report ids {counts.distinct_ids}, "
        f"dedup view {len(counts.view_ids)}, lost {lost}, duplicated rows {counts.rows - counts.distinct_ids}",
        flush=True,
    )


def test_no_accepted_report_is_lost_when_a_writer_is_killed_and_broker_connections_drop(
    amqp_url: str, queue_name: str, pipeline: Pipeline, bigquery_store: BigQueryStore
) -> None:
    if not can_administer():
        missing_service(
            f"closing the broker's connections needs {shlex.join(rabbitmqctl_command())} (SPARTAKUS_TEST_RABBITMQCTL)"
        )
    # One info line per request would bury the warnings that matter here ("broker connection lost").
    gateway = pipeline.ingest("--retry-after=1", "--log-level=warning")
    ports = {name: start_writer(pipeline, bigquery_store, name) for name in WRITERS}
    run = uuid.uuid4().hex[:8]
    reports = chaos_reports(run)

    senders = SenderPool(gateway.port, reports, concurrency=SENDERS, deadline=SEND_DEADLINE, rate=SEND_RATE)
    senders.start()
    try:
        struck = inject_faults(pipeline, bigquery_store, gateway, senders, ports)
    except BaseException:
        senders.abort()
        raise
    finally:
        records = senders.join(timeout=SEND_DEADLINE)
    print(f"\nchaos: reports accepted when each fault struck: {struck}", flush=True)

    accepted_ids = {record.report_id for record in records if record.accepted}
    not_drained = wait_drained(amqp_url, queue_name, bigquery_store, ports, accepted_ids)
    counts = store_counts(bigquery_store)
    lost = len(accepted_ids - counts.view_ids)
    print_summary(records, counts, lost)

    not_accepted = [record for record in records if not record.accepted]
    assert not not_accepted, f"{len(not_accepted)} reports never got a 204, e.g. {not_accepted[:3]}"
    answered_204 = sum(record.answers["204"] for record in records)
    assert lost == 0, f"{lost} reports answered 204 are not in the dedup view; {not_drained}"
    assert not not_drained
    assert len(counts.view_ids) == answered_204 == len(accepted_ids) == REPORTS
    assert counts.view_ids == accepted_ids, "the dedup view holds reports nobody sent"
    assert counts.distinct_ids == REPORTS
    assert message_count(amqp_url, f"{queue_name}.dead") == 0, "reports were dead-lettered"
