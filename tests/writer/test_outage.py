"""BigQuery going away and coming back: the writer retries, returns batches, and writes them once it is back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from runtime.retry import RetryPolicy
from runtime.settings import load_settings
from schema.topology import DELIVERY_LIMIT
from tests.support.bqemulator_process import PROJECT, EmulatorProcess, emulator_client, query_rows
from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import RunningWriter, table_sql
from writer.bigquery_sink import BigQuerySink
from writer.settings import WriterSettings
from writer.sink_worker import DEFAULT_MAX_HOLD, RABBITMQ_CONSUMER_TIMEOUT


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess()
    process.start()
    yield process
    process.stop()


@pytest.mark.integration
def test_a_store_outage_many_holds_long_dead_letters_nothing_and_everything_is_written_after(
    amqp_url: str, queue_name: str, emulator: EmulatorProcess, start_writer: Callable[..., RunningWriter]
) -> None:
    # Scaled down: the hold is 1 s and the outage lasts about eight holds of each batch, so every held
    # message goes back to the queue about eight times. The defaults make a 60-minute outage three holds of
    # 20 minutes (test_the_default_hold_survives_an_hour_long_outage_within_the_delivery_limit).
    table_id = f"{PROJECT}.spartakus.reports"
    sink = BigQuerySink(table_id, emulator_host=emulator.endpoint)
    policy = RetryPolicy(attempts=3, max_seconds=5, first_wait=0.05, max_wait=0.3)
    running = start_writer(queue_name, sink, batch_size=50, batch_max_wait=0.2, write_policy=policy, max_hold=1.0)
    publish(amqp_url, queue_name, report_messages(sample_report(i) for i in range(10)))
    wait_until(lambda: running.written() == 10, timeout=30, what="rows written before the outage")
    assert running.metric("spartakus_writer_store_unreachable") == 0

    emulator.stop()
    during = [sample_report(100 + i) for i in range(120)]
    publish(amqp_url, queue_name, report_messages(during))
    wait_until(
        lambda: running.metric("spartakus_writer_batches_total", {"outcome": "requeued"}) >= 24,
        timeout=60,
        what="about eight holds of each batch ended by the outage",
    )
    assert running.metric("spartakus_writer_store_unreachable") == 1
    assert running.metric("spartakus_writer_oldest_report_seconds") >= 1
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    emulator.start()

    # The restarted emulator is empty: the writer recreates the dataset, table and view itself.
    wait_until(lambda: running.written() == 130, timeout=60, what="rows written after the outage")
    wait_until(lambda: running.metric("spartakus_writer_oldest_report_seconds") == 0, timeout=10, what="nothing held")
    running.shutdown()
    assert running.metric("spartakus_writer_store_unreachable") == 0
    client = emulator_client(emulator.endpoint)
    ids: set[Any] = {row[0] for row in query_rows(client, table_sql("reportID", f"{table_id}_dedup"))}
    assert ids == {r["reportID"] for r in during}
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    assert queue_counts(amqp_url, queue_name)[0] == 0
    sink.close()


def test_the_default_hold_survives_an_hour_long_outage_within_the_delivery_limit() -> None:
    hour = 3600.0
    # Each hold that ends returns the batch once: an outage costs a message at most outage / hold + 1 deliveries.
    assert hour / DEFAULT_MAX_HOLD + 1 < DELIVERY_LIMIT
    assert DEFAULT_MAX_HOLD < RABBITMQ_CONSUMER_TIMEOUT
    assert load_settings(WriterSettings, []).max_hold.total_seconds() == DEFAULT_MAX_HOLD
