"""Losing RabbitMQ nodes under traffic, as a machine crash loses them: nothing answered 204 is lost.

A gateway and two writers (DuckDB, one file each) get every node's URL in one
``--amqp-url``. Sixteen senders post distinct reports, retrying after a 503
as volunteers do. While they send, the node hosting the queue's leader is
``kill -9``'d, started again, and then the node the gateway is connected to
is killed. Afterwards every report answered 204 must be stored, the dead
queue must be empty, and the gateway and both writers must be working again.
The time from each kill until the gateway answered 204 again is printed.

Losing two of the three nodes takes the queue's majority away: no request
sent then may be answered 204, and once a node returns, reports flow again.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Final

import pytest

from tests.cluster.chaos import (
    Kill,
    accepted_sent_after,
    drain_message_ids,
    kill,
    stored_ids,
    wait_for_204,
    wait_gateway_node,
)
from tests.e2e.test_chaos import chaos_reports
from tests.support.pipeline import Gateway, Pipeline, rows_written, writer_metric, writer_metrics
from tests.support.rabbit_cluster import RabbitCluster
from tests.support.report_senders import SenderPool, SendRecord
from tests.support.services import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

REPORTS: Final = 3000
SENDERS: Final = 16
SEND_RATE: Final = 45.0
"""Attempts per second: about 70 s of sending, long enough for a node to be killed, restarted and another killed."""
SEND_DEADLINE: Final = 240.0
STEP_TIMEOUT: Final = 90.0
RECOVERY_TIMEOUT: Final = 60.0
"""Seconds the gateway may take to answer 204 again after a kill (it reconnects in well under ten)."""
DRAIN_TIMEOUT: Final = 120.0
GATEWAY_ARGS: Final = ("--retry-after=1", "--confirm-timeout=2s", "--log-level=info")
WRITER_ARGS: Final = ("--batch-size=100", "--batch-max-wait=200ms")
WRITERS: Final = ("writer-1", "writer-2")


def start(pipeline: Pipeline, tmp_path: Path) -> tuple[Gateway, dict[str, int], list[Path]]:
    """The gateway and both writers, each writer into a DuckDB file of its own; returns their metrics ports."""
    gateway = pipeline.ingest(*GATEWAY_ARGS)
    files = [tmp_path / f"{name}.duckdb" for name in WRITERS]
    ports = {
        name: pipeline.writer(name, f"duckdb:///{file}", *WRITER_ARGS)
        for name, file in zip(WRITERS, files, strict=True)
    }
    return gateway, ports, files


def inject_node_losses(cluster: RabbitCluster, queue: str, gateway: Gateway, senders: SenderPool) -> list[Kill]:
    """Kill the leader's node, start it again, kill the gateway's node; each while reports are still arriving."""
    wait_until(lambda: senders.accepted >= REPORTS // 5, timeout=STEP_TIMEOUT, what="a fifth of the reports accepted")
    leader = cluster.quorum_leader(queue)
    first, since = kill(leader, "queue leader's node", senders)
    first.seconds_to_204 = wait_for_204(senders, since, RECOVERY_TIMEOUT)
    cluster.restart(leader)

    node = wait_gateway_node(gateway, cluster, RECOVERY_TIMEOUT)
    second, since = kill(node, "gateway's node", senders)
    second.seconds_to_204 = wait_for_204(senders, since, RECOVERY_TIMEOUT)
    for each in (first, second):
        assert each.accepted_before < REPORTS, f"the {each.what} was killed after the senders had finished"
    return [first, second]


def connected_node(port: int) -> str | None:
    """The node a writer consumes from, as its ``/metrics`` say."""
    samples = writer_metrics(port) or {}
    return next((name for name, value in samples.items() if "broker_connected" in name and value == 1), None)


def wait_drained(cluster: RabbitCluster, queue: str, ports: dict[str, int]) -> None:
    """Until the queue holds nothing (ready, unacked or awaiting dead-lettering) and no writer holds a row."""

    def drained() -> bool:
        if any(writer_metric(port, "spartakus_writer_held_rows") != 0 for port in ports.values()):
            return False
        return cluster.queue_messages(queue) == 0

    wait_until(drained, timeout=DRAIN_TIMEOUT, interval=1.0, what="the queue drained into the stores")


def summary(records: list[SendRecord], kills: list[Kill]) -> str:
    """The run's figures, for ``pytest -s`` and the closing note."""
    answers: Counter[str] = Counter()
    for record in records:
        answers.update(record.answers)
    lines = [f"node loss: {len(records)} reports, answers {dict(sorted(answers.items()))}"]
    lines += [
        f"node loss: killed {k.what} {k.node} after {k.accepted_before} accepted; "
        f"204 again after {k.seconds_to_204:.2f}s"
        for k in kills
    ]
    return "\n".join(lines)


def test_no_report_answered_204_is_lost_when_broker_nodes_are_killed(
    cluster: RabbitCluster, cluster_queue: str, cluster_pipeline: Pipeline, tmp_path: Path
) -> None:
    gateway, ports, files = start(cluster_pipeline, tmp_path)
    reports = chaos_reports(uuid.uuid4().hex[:8], REPORTS)
    senders = SenderPool(gateway.port, reports, concurrency=SENDERS, deadline=SEND_DEADLINE, rate=SEND_RATE)
    senders.start()
    try:
        kills = inject_node_losses(cluster, cluster_queue, gateway, senders)
        written_before = {name: rows_written(port, "duckdb") for name, port in ports.items()}
    except BaseException:
        senders.abort()
        raise
    finally:
        records = senders.join(timeout=SEND_DEADLINE)
    print("\n" + summary(records, kills), flush=True)

    accepted = {record.report_id for record in records if record.accepted}
    assert len(accepted) == REPORTS, f"{REPORTS - len(accepted)} reports never got a 204"
    wait_drained(cluster, cluster_queue, ports)
    assert gateway.ready()
    # The broker's consumer count still includes the channels of the node killed last (it keeps consumers of an
    # unreachable node, suspected down, until the node returns), so each writer says whether it consumes.
    for name, port in ports.items():
        assert connected_node(port) is not None, f"{name} is not connected to a node"
        assert rows_written(port, "duckdb") > written_before[name], f"{name} wrote nothing after the last kill"
    assert cluster.queue_messages(f"{cluster_queue}.dead") == 0, "reports were dead-lettered"

    for name in WRITERS:
        assert cluster_pipeline.processes[name].stop() == 0
    stored = stored_ids(files)
    lost = accepted - set(stored.view_ids)
    print(
        f"node loss: stored rows {stored.rows}, dedup view {len(stored.view_ids)}, lost {len(lost)}, "
        f"redelivered to both writers {stored.in_both_files}",
        flush=True,
    )
    assert not lost, f"{len(lost)} reports answered 204 are not stored, e.g. {sorted(lost)[:3]}"
    assert stored.repeated_in_a_view == 0
    assert set(stored.view_ids) == accepted, "the stores hold reports nobody sent"


MAJORITY_REPORTS: Final = 1500
MAJORITY_RATE: Final = 30.0
OUTAGE_ATTEMPTS: Final = 40
"""Answers to requests sent while the majority is gone that the test waits for: proof the gateway was asked."""


def test_no_report_is_accepted_while_two_of_three_nodes_are_down_then_reports_flow_again(
    cluster: RabbitCluster, cluster_queue: str, cluster_pipeline: Pipeline
) -> None:
    gateway = cluster_pipeline.ingest(*GATEWAY_ARGS)
    senders = SenderPool(
        gateway.port,
        chaos_reports(uuid.uuid4().hex[:8], MAJORITY_REPORTS),
        concurrency=SENDERS,
        deadline=SEND_DEADLINE,
        rate=MAJORITY_RATE,
    )
    senders.start()
    try:
        wait_until(lambda: senders.accepted >= 100, timeout=STEP_TIMEOUT, what="reports accepted")
        leader = cluster.quorum_leader(cluster_queue)
        other = next(node for node in cluster.nodes if node is not leader)
        kill(leader, "queue leader's node", senders)
        _, lost_at = kill(other, "a second node", senders)
        wait_until(
            lambda: senders.attempts_between(lost_at, time.monotonic()) >= OUTAGE_ATTEMPTS,
            timeout=STEP_TIMEOUT,
            what="requests answered while the majority is gone",
        )
        back_at = time.monotonic()
        cluster.restart(leader)
        booted = time.monotonic() - back_at
        recovered = wait_for_204(senders, back_at, RECOVERY_TIMEOUT)
        accepted_before_end = senders.accepted
        wait_until(lambda: senders.accepted >= accepted_before_end + 100, timeout=STEP_TIMEOUT, what="reports flowing")
    finally:
        senders.abort()
        records = senders.join(timeout=SEND_DEADLINE)
    during = [record.report_id for record in accepted_sent_after(records, lost_at, back_at)]
    print(
        f"\nmajority loss: {senders.attempts_between(lost_at, back_at)} requests answered while 2 of 3 nodes "
        f"were down, {len(during)} of them 204; node back after {booted:.1f}s, "
        f"204 again {recovered:.2f}s after its restart began",
        flush=True,
    )

    assert during == [], "reports were accepted while the majority was gone"
    accepted = {record.report_id for record in records if record.accepted}
    queued = set(drain_message_ids(cluster, cluster_queue))
    assert accepted - queued == set(), "reports answered 204 are missing from the queue"
