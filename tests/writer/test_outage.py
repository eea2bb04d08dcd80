"""BigQuery going away and coming back: the writer retries, returns batches, and writes them once it is back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.bqemulator_process import PROJECT, EmulatorProcess, emulator_client, query_rows
from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import RunningWriter, table_sql
from writer.bigquery_sink import BigQuerySink
from writer.retry import RetryPolicy

pytestmark = pytest.mark.integration


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess()
    process.start()
    yield process
    process.stop()


def test_bigquery_stopped_and_restarted_ends_with_the_reports_written_not_dead_lettered(
    amqp_url: str, queue_name: str, emulator: EmulatorProcess, start_writer: Callable[..., RunningWriter]
) -> None:
    table_id = f"{PROJECT}.spartakus.reports"
    sink = BigQuerySink(table_id, emulator_host=emulator.endpoint)
    policy = RetryPolicy(attempts=3, max_seconds=5, first_wait=0.1, max_wait=0.5)
    running = start_writer(queue_name, sink, batch_size=50, batch_max_wait=0.2, write_policy=policy)
    publish(amqp_url, queue_name, report_messages(sample_report(i) for i in range(10)))
    wait_until(lambda: running.written() == 10, timeout=30, what="rows written before the outage")

    emulator.stop()
    during = [sample_report(100 + i) for i in range(40)]
    publish(amqp_url, queue_name, report_messages(during))
    wait_until(
        lambda: running.metric("spartakus_writer_retries_total") >= 2, timeout=30, what="retries during the outage"
    )
    wait_until(
        lambda: running.metric("spartakus_writer_batches_total", {"outcome": "requeued"}) >= 1,
        timeout=30,
        what="a batch returned to the queue",
    )
    emulator.start()

    # The restarted emulator is empty: the writer recreates the dataset, table and view itself.
    wait_until(lambda: running.written() == 50, timeout=60, what="rows written after the outage")
    running.shutdown()
    client = emulator_client(emulator.endpoint)
    ids: set[Any] = {row[0] for row in query_rows(client, table_sql("reportID", f"{table_id}_dedup"))}
    assert ids == {r["reportID"] for r in during}
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    assert queue_counts(amqp_url, queue_name)[0] == 0
    sink.close()
