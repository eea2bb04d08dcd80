"""The writer against the real RabbitMQ: batching, acks after writes, retries, dead-lettering, dedup."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.retry import RetryPolicy
from schema.topology import ERROR_HEADER, RECEIVED_AT_HEADER, SCHEMA_VERSION_HEADER
from tests.support.amqp import blocking_channel
from tests.support.services import wait_until
from tests.support.writer_load import properties, publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import BigQueryTarget, FlakySink, RecordingSink, RunningWriter, service_unavailable
from writer.batch import row_bytes
from writer.duckdb_sink import DuckDbSink
from writer.rows import decode_report
from writer.sink import Sink

pytestmark = pytest.mark.integration

StartWriter = Callable[..., RunningWriter]


def reports(count: int, **options: Any) -> list[dict[str, Any]]:
    return [sample_report(i, **options) for i in range(count)]


def duckdb_count(sink: Sink) -> int:
    assert isinstance(sink, DuckDbSink)
    return int(sink.fetchall("SELECT count(*) FROM reports")[0][0])


def dead_messages(amqp_url: str, queue: str) -> list[tuple[Any, bytes]]:
    """Take every message out of ``<queue>.dead``."""
    taken: list[tuple[Any, bytes]] = []
    with blocking_channel(amqp_url) as channel:
        while True:
            method, props, body = channel.basic_get(f"{queue}.dead", auto_ack=True)
            if method is None:
                return taken
            taken.append((props, body))


def test_batches_close_at_the_row_count_and_only_written_rows_are_acked(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    sink = RecordingSink(DuckDbSink(str(tmp_path / "r.duckdb")))
    publish(amqp_url, queue_name, report_messages(reports(120)))
    running = start_writer(queue_name, sink, batch_size=50, batch_max_wait=60)
    wait_until(lambda: running.written() == 100, timeout=30, what="two full batches written")
    assert [len(b) for b in sink.batches] == [50, 50]
    # The 20 in the open batch are delivered but unacked: not in the queue, not in the table.
    assert queue_counts(amqp_url, queue_name)[0] == 0
    assert duckdb_count(sink.inner) == 100
    # The depth is read from the broker as the writer starts (then every few seconds): some of the 120, or none.
    depth = running.writer.metrics.registry.get_sample_value("spartakus_writer_queue_messages", {"queue": queue_name})
    assert depth is not None, "the queue depth gauge was never set for this queue"
    assert 0 <= depth <= 120
    running.shutdown()
    assert [len(b) for b in sink.batches] == [50, 50, 20]
    assert duckdb_count(sink.inner) == 120
    assert queue_counts(amqp_url, queue_name)[0] == 0
    sink.close()


def test_a_batch_closes_by_age_before_it_is_full(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    sink = RecordingSink(DuckDbSink(str(tmp_path / "r.duckdb")))
    running = start_writer(queue_name, sink, batch_size=500, batch_max_wait=0.3)
    publish(amqp_url, queue_name, report_messages(reports(7)))
    wait_until(lambda: running.written() == 7, timeout=20, what="a partial batch written by age")
    assert [len(b) for b in sink.batches] == [7]
    running.shutdown()
    sink.close()


def test_batches_close_by_bytes_to_keep_a_request_under_the_limit(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    batch = reports(10, pad=20_000)
    limit = 3 * row_bytes(decode_report(json.dumps(batch[0]).encode())) + 100
    sink = RecordingSink(DuckDbSink(str(tmp_path / "r.duckdb")))
    publish(amqp_url, queue_name, report_messages(batch))
    running = start_writer(queue_name, sink, batch_size=500, batch_max_wait=0.3, batch_max_bytes=limit)
    wait_until(lambda: running.written() == 10, timeout=20, what="all rows written")
    assert [len(b) for b in sink.batches] == [3, 3, 3, 1]
    assert all(sum(row_bytes(r) for r in b) <= limit for b in sink.batches)
    running.shutdown()
    sink.close()


def test_an_undecodable_message_is_dead_lettered_with_its_reason_and_the_writer_keeps_going(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    sink = DuckDbSink(str(tmp_path / "r.duckdb"))
    good = reports(3)
    poison_props = properties("poison-1", "2026-11-27T10:00:00+00:00")
    messages = [*report_messages(good[:1]), (b'{"clusterID": ', poison_props), *report_messages(good[1:2])]
    publish(amqp_url, queue_name, messages)
    running = start_writer(queue_name, sink, batch_size=10, batch_max_wait=0.2)
    wait_until(lambda: running.written() == 2, timeout=20, what="the good reports written")
    wait_until(
        lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 1, timeout=20, what="the poison dead-lettered"
    )
    publish(amqp_url, queue_name, report_messages(good[2:]))
    wait_until(lambda: running.written() == 3, timeout=20, what="a later report written")
    running.shutdown()
    assert running.metric("spartakus_writer_dead_lettered_total", {"reason": "undecodable"}) == 1
    [(props, body)] = dead_messages(amqp_url, queue_name)
    assert body == b'{"clusterID": '
    assert props.message_id == "poison-1"
    assert props.delivery_mode == 2
    assert "undecodable report" in props.headers[ERROR_HEADER]
    assert props.headers[RECEIVED_AT_HEADER] == "2026-11-27T10:00:00+00:00"
    assert props.headers[SCHEMA_VERSION_HEADER] == "1"
    assert queue_counts(amqp_url, queue_name)[0] == 0
    sink.close()


def test_a_503_then_success_is_retried_and_nothing_is_dead_lettered(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    sink = FlakySink(DuckDbSink(str(tmp_path / "r.duckdb")), failures=2, error=service_unavailable)
    publish(amqp_url, queue_name, report_messages(reports(30)))
    running = start_writer(queue_name, sink, batch_size=50, batch_max_wait=0.2)
    wait_until(lambda: running.written() == 30, timeout=30, what="rows written after the 503s")
    running.shutdown()
    assert running.metric("spartakus_writer_retries_total") == 2
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    assert queue_counts(amqp_url, queue_name)[0] == 0
    assert duckdb_count(sink.inner) == 30
    sink.close()


def test_a_batch_failing_past_its_hold_returns_to_the_queue_and_is_written_later(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter
) -> None:
    sink = FlakySink(DuckDbSink(str(tmp_path / "r.duckdb")), failures=10**9, error=service_unavailable)
    publish(amqp_url, queue_name, report_messages(reports(20)))
    policy = RetryPolicy(attempts=2, max_seconds=10, first_wait=0.01, max_wait=0.05)
    running = start_writer(queue_name, sink, batch_size=50, batch_max_wait=0.2, write_policy=policy, max_hold=0.5)
    wait_until(
        lambda: running.metric("spartakus_writer_batches_total", {"outcome": "requeued"}) >= 1,
        timeout=30,
        what="the batch returned to the queue once held for max_hold",
    )
    assert running.metric("spartakus_writer_store_unreachable") == 1
    sink.heal()
    wait_until(lambda: running.written() == 20, timeout=30, what="rows written after a requeue")
    running.shutdown()
    assert running.metric("spartakus_writer_store_unreachable") == 0
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    assert duckdb_count(sink.inner) == 20
    sink.close()


def test_a_report_written_twice_leaves_one_row_in_the_dedup_view(
    amqp_url: str, queue_name: str, bq_target: BigQueryTarget, start_writer: StartWriter
) -> None:
    # The first request lands but its answer is lost: the retry writes the same rows again.
    sink = FlakySink(
        bq_target.sink(),
        failures=1,
        error=service_unavailable,
        after_write=True,
    )
    batch = reports(5)
    publish(amqp_url, queue_name, report_messages(batch))
    running = start_writer(queue_name, sink, batch_size=5, batch_max_wait=0.2)
    wait_until(lambda: running.written() == 5, timeout=30, what="the batch written")
    # And a plain redelivery of one report.
    publish(amqp_url, queue_name, report_messages(batch[:1]))
    wait_until(lambda: running.written() == 6, timeout=30, what="the redelivered report written")
    running.shutdown()
    view = f"{bq_target.table_id}_dedup"
    assert bq_target.scalar("COUNT(*)") == 11
    assert bq_target.scalar("COUNT(*)", view) == 5
    assert bq_target.report_ids(view) == {r["reportID"] for r in batch}
    sink.close()


def test_two_writers_share_one_queue_without_loss_or_double_acks(
    amqp_url: str, queue_name: str, bq_target: BigQueryTarget, start_writer: StartWriter
) -> None:
    sinks = [bq_target.sink() for _ in range(2)]
    sinks[0].ensure_table()
    batch = reports(1000, nodes=1)
    writers = [start_writer(queue_name, sink, batch_size=50, batch_max_wait=0.2) for sink in sinks]
    publish(amqp_url, queue_name, report_messages(batch))
    wait_until(lambda: sum(w.written() for w in writers) >= 1000, timeout=60, what="every report written")
    for running in writers:
        running.shutdown()
    assert all(w.written() > 0 for w in writers), "both writers should have taken a share"
    assert sum(w.written() for w in writers) == 1000
    # A double ack closes the channel, which the writer would have to reconnect from.
    assert all(w.metric("spartakus_writer_reconnects_total") == 0 for w in writers)
    assert bq_target.report_ids(f"{bq_target.table_id}_dedup") == {r["reportID"] for r in batch}
    assert queue_counts(amqp_url, queue_name)[0] == 0
    for sink in sinks:
        sink.close()


def test_rows_bigquery_rejects_are_dead_lettered_and_the_rest_written(
    amqp_url: str, queue_name: str, bq_target: BigQueryTarget, start_writer: StartWriter
) -> None:
    bq_target.create_table_refusing_master_versions()
    batch = reports(3)
    for report in batch[1:]:
        del report["masterVersion"]
    sink = bq_target.sink()
    publish(amqp_url, queue_name, report_messages(batch))
    running = start_writer(queue_name, sink, batch_size=3, batch_max_wait=0.2)
    wait_until(lambda: running.written() == 2, timeout=30, what="the valid rows written")
    wait_until(
        lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 1, timeout=20, what="the rejected row dead-lettered"
    )
    running.shutdown()
    [(props, _body)] = dead_messages(amqp_url, queue_name)
    assert props.message_id == batch[0]["reportID"]
    assert props.headers[ERROR_HEADER].startswith("BigQuery rejected the row")
    assert running.metric("spartakus_writer_dead_lettered_total", {"reason": "rejected"}) == 1
    sink.close()
