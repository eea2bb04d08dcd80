"""A writer that stores nothing for --max-hold says so once, at error level, with the reason and the fix."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.retry import RetryPolicy
from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import FlakySink, RunningWriter
from writer.duckdb_sink import DuckDbSink
from writer.errors import TransientSinkError

pytestmark = pytest.mark.integration

FIX = "free some disk space"
StartWriter = Callable[..., RunningWriter]


def disk_full() -> Exception:
    return TransientSinkError("DuckDB write failed: IO Error: No space left on device", fix=FIX)


def test_no_progress_for_max_hold_is_one_error_line_with_reason_and_fix_until_the_store_recovers(
    amqp_url: str, queue_name: str, tmp_path: Path, start_writer: StartWriter, caplog: pytest.LogCaptureFixture
) -> None:
    inner = DuckDbSink(str(tmp_path / "r.duckdb"))
    sink = FlakySink(inner, failures=10**9, error=disk_full)
    publish(amqp_url, queue_name, report_messages([sample_report(i) for i in range(20)]))
    policy = RetryPolicy(attempts=2, max_seconds=10, first_wait=0.01, max_wait=0.05)

    with caplog.at_level(logging.INFO, logger="writer.sink_worker"):
        running = start_writer(queue_name, sink, batch_size=50, batch_max_wait=0.2, write_policy=policy, max_hold=0.3)
        wait_until(
            lambda: running.metric("spartakus_writer_batches_total", {"outcome": "requeued"}) >= 3,
            timeout=60,
            what="the batch returned to the queue three times",
        )
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        sink.heal()
        wait_until(lambda: running.written() == 20, timeout=60, what="the reports written once the store recovers")
        running.shutdown()
    inner.close()

    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "stored nothing for --max-hold" in errors[0].getMessage()
    assert "No space left on device" in errors[0].__dict__["reason"]
    assert errors[0].__dict__["fix"] == FIX
    assert any("accepts batches again" in r.getMessage() for r in caplog.records)
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    assert json.dumps(errors[0].__dict__["max_hold_s"]) == "0.3"
