"""Helpers of the node-loss tests: where the gateway is connected, when it answered 204 again, what the stores hold."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from tests.support.amqp import take_messages
from tests.support.pipeline import Gateway
from tests.support.rabbit_cluster import RabbitCluster, RabbitNode
from tests.support.report_senders import SenderPool, SendRecord
from tests.support.services import wait_until

_CONNECTED = re.compile(r'^spartakus_ingest_broker_connected\{node="127\.0\.0\.1:(\d+)"\} 1\.0$', re.MULTILINE)


def gateway_node(gateway: Gateway, cluster: RabbitCluster) -> RabbitNode | None:
    """The node the gateway publishes to now, as its ``/metrics`` say; None while it is connected to none."""
    try:
        answer = gateway.request("GET", "/metrics")
    except OSError:
        return None
    match = _CONNECTED.search(answer.body.decode())
    return None if match is None else cluster.node_on_port(int(match.group(1)))


def wait_gateway_node(gateway: Gateway, cluster: RabbitCluster, timeout: float) -> RabbitNode:
    """The node the gateway is connected to, once it is connected to one."""
    found: list[RabbitNode] = []

    def connected() -> bool:
        node = gateway_node(gateway, cluster)
        found[:] = [node] if node is not None else []
        return bool(found)

    wait_until(connected, timeout=timeout, interval=0.2, what="the gateway connected to a node")
    return found[0]


def accepted_sent_after(records: Sequence[SendRecord], since: float, until: float = float("inf")) -> list[SendRecord]:
    """The reports whose accepted attempt was sent at ``since`` or later (and before ``until``)."""
    return [r for r in records if r.accepted_at is not None and since <= r.accepted_at[0] < until]


def wait_for_204(senders: SenderPool, since: float, timeout: float) -> float:
    """Seconds from ``since`` until the first 204 to a request sent after it."""
    wait_until(
        lambda: bool(accepted_sent_after(senders.records, since)),
        timeout=timeout,
        interval=0.05,
        what="a 204 again",
    )
    return min(r.accepted_at[1] for r in accepted_sent_after(senders.records, since) if r.accepted_at) - since


@dataclass
class Kill:
    """One node killed while reports flowed, and how long the gateway took to answer 204 again."""

    what: str
    node: str
    accepted_before: int
    seconds_to_204: float = float("nan")


def kill(node: RabbitNode, what: str, senders: SenderPool) -> tuple[Kill, float]:
    """``kill -9`` ``node``; returns the record and the moment it was dead."""
    accepted = senders.accepted
    node.kill()
    return Kill(what, node.name, accepted), time.monotonic()


def drain_message_ids(cluster: RabbitCluster, queue: str) -> list[str]:
    """Take every message out of ``queue`` on the cluster; their message ids."""
    return [properties.message_id for properties, _body in take_messages(cluster.any_url(), queue)]


@dataclass
class StoredIds:
    """What the writers' DuckDB files hold, read together."""

    rows: int
    view_ids: list[str]
    """Report ids of the files' dedup views, each once: the writers' own rule applied across the files."""
    repeated_in_a_view: int
    """Ids that one file's dedup view shows more than once (the view must make this 0)."""
    in_both_files: int
    """Reports redelivered to the other writer after a loss: stored by both."""


def stored_ids(files: Sequence[Path]) -> StoredIds:
    """Rows of every file, and the ids of the dedup views of all files together.

    DuckDB lets one process write a file, so each writer has one; a report
    redelivered to the other writer is in both files, and across the files
    the writers' own rule applies (one row per report id).
    """
    connection = duckdb.connect()
    try:
        names = []
        for index, path in enumerate(files):
            connection.execute(f"ATTACH '{path}' AS w{index} (READ_ONLY)")
            names.append(f"w{index}")
        # Table and file names are the test's own.
        tables = " UNION ALL ".join(f'SELECT "reportID" FROM {n}.reports' for n in names)  # noqa: S608
        views = " UNION ALL ".join(
            f'SELECT {i} AS file, "reportID" FROM {n}.reports_dedup'  # noqa: S608
            for i, n in enumerate(names)
        )
        rows = connection.execute(f"SELECT count(*) FROM ({tables})").fetchone()  # noqa: S608
        per_id = connection.execute(
            f'SELECT "reportID", count(*), count(DISTINCT file) FROM ({views}) GROUP BY 1'  # noqa: S608
        ).fetchall()
    finally:
        connection.close()
    return StoredIds(
        rows=int(rows[0]) if rows else 0,
        view_ids=[str(row[0]) for row in per_id],
        repeated_in_a_view=sum(1 for _, count, files_ in per_id if count > files_),
        in_both_files=sum(1 for _, _, files_ in per_id if files_ > 1),
    )
