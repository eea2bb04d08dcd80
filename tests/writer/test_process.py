"""The writer as a process: SIGTERM mid-batch, kill -9 mid-batch, a second process on one DuckDB file, /metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.support.broker_admin import list_connections
from tests.support.services import free_port, port_open, wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report

pytestmark = pytest.mark.integration


class WriterProcess:
    def __init__(self, amqp_url: str, queue: str, database: str, *options: str) -> None:
        self.metrics_port = free_port()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "writer",
                "--amqp-url",
                amqp_url,
                "--queue",
                queue,
                "--database",
                database,
                "--metrics-port",
                str(self.metrics_port),
                *options,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )

    def metrics(self) -> str:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as response:  # local test URL
            text: str = response.read().decode()
            return text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate(timeout=30)


@pytest.fixture
def processes() -> Iterator[list[WriterProcess]]:
    started: list[WriterProcess] = []
    yield started
    for writer in started:
        writer.stop()


def rows_in(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as db:
        row = db.execute("SELECT count(*) FROM reports").fetchone()
        return int(row[0]) if row else 0


def start_holding_a_batch(amqp_url: str, queue: str, path: Path, processes: list[WriterProcess]) -> WriterProcess:
    """A writer whose batch neither fills nor ages out, holding 300 delivered, unacked reports."""
    writer = WriterProcess(amqp_url, queue, f"duckdb:///{path}", "--batch-size", "1000", "--batch-max-wait", "10m")
    processes.append(writer)
    publish(amqp_url, queue, report_messages(sample_report(i) for i in range(300)))
    wait_until(lambda: port_open("127.0.0.1", writer.metrics_port), timeout=30, what="the writer's metrics port")
    wait_until(lambda: "spartakus_writer_held_rows 300.0" in writer.metrics(), timeout=30, what="300 held")
    assert queue_counts(amqp_url, queue) == (0, 1)
    return writer


def test_sigterm_mid_batch_writes_the_batch_acks_it_and_exits_cleanly(
    amqp_url: str, queue_name: str, tmp_path: Path, processes: list[WriterProcess]
) -> None:
    path = tmp_path / "reports.duckdb"
    writer = start_holding_a_batch(amqp_url, queue_name, path, processes)
    writer.process.send_signal(signal.SIGTERM)
    assert writer.process.wait(timeout=30) == 0
    assert rows_in(path) == 300
    assert queue_counts(amqp_url, queue_name) == (0, 0)


def test_kill_9_mid_batch_loses_nothing_and_the_next_writer_writes_it(
    amqp_url: str, queue_name: str, tmp_path: Path, processes: list[WriterProcess]
) -> None:
    path = tmp_path / "reports.duckdb"
    writer = start_holding_a_batch(amqp_url, queue_name, path, processes)
    writer.process.kill()
    writer.process.wait(timeout=30)
    wait_until(lambda: queue_counts(amqp_url, queue_name) == (300, 0), timeout=30, what="the batch redelivered")
    assert rows_in(path) == 0

    again = WriterProcess(amqp_url, queue_name, f"duckdb:///{path}", "--batch-size", "100", "--batch-max-wait", "200ms")
    processes.append(again)
    wait_until(lambda: queue_counts(amqp_url, queue_name) == (0, 1), timeout=30, what="the next writer consuming")
    wait_until(
        lambda: 'spartakus_writer_rows_written_total{sink="duckdb"} 300.0' in again.metrics(),
        timeout=30,
        what="300 rows written by the next writer",
    )
    metrics = again.metrics()
    for name in (
        "spartakus_writer_batches_total",
        "spartakus_writer_batch_seconds_bucket",
        "spartakus_writer_retries_total",
    ):
        assert name in metrics
    assert f'spartakus_writer_queue_messages{{queue="{queue_name}"}}' in metrics
    again.process.send_signal(signal.SIGTERM)
    assert again.process.wait(timeout=30) == 0
    assert rows_in(path) == 300


def test_a_second_writer_on_the_same_duckdb_file_exits_with_a_clear_message(
    amqp_url: str, queue_name: str, tmp_path: Path, processes: list[WriterProcess]
) -> None:
    path = tmp_path / "reports.duckdb"
    first = WriterProcess(amqp_url, queue_name, f"duckdb:///{path}", "--batch-max-wait", "100ms")
    processes.append(first)
    wait_until(lambda: port_open("127.0.0.1", first.metrics_port), timeout=30, what="the first writer started")
    second = WriterProcess(amqp_url, queue_name, f"duckdb:///{path}")
    processes.append(second)
    assert second.process.wait(timeout=30) == 1
    _out, err = second.process.communicate(timeout=5)
    assert "open in another process" in err
    publish(amqp_url, queue_name, report_messages(sample_report(i) for i in range(5)))
    wait_until(
        lambda: 'rows_written_total{sink="duckdb"} 5.0' in first.metrics(), timeout=30, what="first writer unharmed"
    )
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=30) == 0
    assert rows_in(path) == 5


def test_each_writer_names_its_broker_connection_with_its_pid(
    amqp_url: str, queue_name: str, processes: list[WriterProcess]
) -> None:
    name = f"spartakus-writer-named-{uuid.uuid4().hex[:8]}"
    writer = WriterProcess(amqp_url, queue_name, "stdout", "--connection-name", name)
    processes.append(writer)
    expected = f"{name}-{writer.process.pid}"

    wait_until(
        lambda: any(expected in c.client_properties for c in list_connections()),
        timeout=60,
        interval=1,
        what=f"a broker connection named {expected}",
    )
