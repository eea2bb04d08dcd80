"""A dropped broker connection: the writer reconnects with backoff and loses nothing."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.broker_admin import can_administer, close_connections, connections_named, rabbitmqctl_command
from tests.support.services import missing_service, wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import RunningWriter
from writer.duckdb_sink import DuckDbSink

pytestmark = pytest.mark.integration


def close_connection_named(name: str) -> None:
    """Close only the connection whose client calls itself ``name`` (other clients on the broker stay)."""
    if not can_administer():
        missing_service(f"{shlex.join(rabbitmqctl_command())} is not installed (SPARTAKUS_TEST_RABBITMQCTL)")
    pids = [connection.pid for connection in connections_named(name)]
    assert len(pids) == 1, f"expected one connection named {name}, found {len(pids)}"
    close_connections(lambda connection: connection.pid == pids[0], "test")


def test_a_closed_connection_is_reopened_and_every_report_written(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: Callable[..., RunningWriter]
) -> None:
    name = f"spartakus-writer-test-{uuid.uuid4().hex[:8]}"
    sink = DuckDbSink(str(tmp_path / "r.duckdb"))
    running = start_writer(queue_name, sink, batch_size=20, batch_max_wait=0.2, name=name)
    publish(amqp_url, queue_name, report_messages(sample_report(i) for i in range(30)))
    wait_until(lambda: running.written() == 30, timeout=30, what="rows written before the drop")

    close_connection_named(name)
    wait_until(lambda: running.metric("spartakus_writer_reconnects_total") == 1, timeout=30, what="a reconnect")
    later = [sample_report(100 + i) for i in range(30)]
    publish(amqp_url, queue_name, report_messages(later))
    wait_until(lambda: running.written() == 60, timeout=30, what="rows written after the reconnect")
    running.shutdown()
    assert queue_counts(amqp_url, queue_name)[0] == 0
    ids = {row[0] for row in sink.fetchall("SELECT reportID FROM reports_dedup")}
    assert {r["reportID"] for r in later} <= ids
    assert len(ids) == 60
    sink.close()
