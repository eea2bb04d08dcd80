"""Fixtures for the writer's tests: writers running in a thread, sinks that record or fail on purpose."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from google.api_core.exceptions import GoogleAPICallError, ServiceUnavailable
from google.cloud import bigquery

from runtime.retry import RetryPolicy
from schema.bigquery import load_table_schema
from writer.bigquery_sink import BigQuerySink, translate
from writer.errors import TransientSinkError
from writer.rows import Row
from writer.service import QueueWriter
from writer.sink import Sink, WriteResult

FAST_RETRIES = RetryPolicy(attempts=5, max_seconds=20, first_wait=0.05, max_wait=0.5)


@dataclass
class RunningWriter:
    """A writer in a thread of its own."""

    writer: QueueWriter
    stop: threading.Event
    thread: threading.Thread
    errors: list[BaseException] = field(default_factory=list)

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        """Current value of a metric sample, 0 when absent."""
        return self.writer.metrics.registry.get_sample_value(name, labels or {}) or 0.0

    def written(self) -> float:
        """Rows this writer had acked as written."""
        return sum(
            sample.value
            for metric in self.writer.metrics.registry.collect()
            if metric.name == "spartakus_writer_rows_written"
            for sample in metric.samples
            if sample.name.endswith("_total")
        )

    def shutdown(self, timeout: float = 30) -> None:
        """Stop the writer and wait for it; fail on an error it raised."""
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "writer did not stop in time"
        assert not self.errors, f"writer failed: {self.errors!r}"


@pytest.fixture
def start_writer(amqp_url: str) -> Iterator[Callable[..., RunningWriter]]:
    """Start writers on ``amqp_url`` (or the ``brokers`` given); every one is stopped at the end of the test."""
    running: list[RunningWriter] = []

    def start(queue: str, sink: Sink, *, brokers: str | None = None, **options: Any) -> RunningWriter:
        options.setdefault("write_policy", FAST_RETRIES)
        writer = QueueWriter(amqp_url=brokers or amqp_url, queue_name=queue, sink=sink, **options)
        stop = threading.Event()
        handle = RunningWriter(writer, stop, threading.Thread(target=lambda: None))

        def run() -> None:
            try:
                writer.run(stop)
            except Exception as e:  # noqa: BLE001  # handed to the test by shutdown()
                handle.errors.append(e)

        handle.thread = threading.Thread(target=run, name="test-writer", daemon=True)
        handle.thread.start()
        running.append(handle)
        return handle

    yield start
    for handle in running:
        handle.stop.set()
    for handle in running:
        handle.thread.join(30)


class RecordingSink:
    """Wraps a real sink and records the size of every batch it is asked to write."""

    def __init__(self, inner: Sink) -> None:
        self.inner = inner
        self.batches: list[list[Row]] = []
        self.name = inner.name

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Record, then write through."""
        self.batches.append(list(rows))
        return self.inner.write(rows)

    def close(self) -> None:
        """Close the real sink."""
        self.inner.close()


class FlakySink:
    """Wraps a real sink: the first ``failures`` calls raise ``error()``, before (or after) writing through."""

    def __init__(
        self, inner: Sink, *, failures: int, error: Callable[[], Exception], after_write: bool = False
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0
        self._failures = failures
        self._error = error
        self._after_write = after_write

    def heal(self) -> None:
        """Stop failing: every later call writes through."""
        self._failures = 0

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Fail as configured, else write through."""
        self.calls += 1
        if self.calls > self._failures:
            return self.inner.write(rows)
        if self._after_write:
            self.inner.write(rows)
        raise self._error()

    def close(self) -> None:
        """Close the real sink."""
        self.inner.close()


def api_error(cls: type[GoogleAPICallError], message: str, **options: Any) -> GoogleAPICallError:
    """An exception of the Google client (its constructors are untyped)."""
    return cls(message, **options)


def service_unavailable() -> Exception:
    """A 503 from the BigQuery client, translated as the BigQuery sink translates it."""
    error = translate(api_error(ServiceUnavailable, "insertAll: backend unavailable"))
    assert isinstance(error, TransientSinkError)
    return error


def table_sql(select: str, table: str, where: str = "") -> str:
    """A query on a table the test made (names are the test's own, not input)."""
    return f"SELECT {select} FROM `{table}`" + (f" WHERE {where}" if where else "")  # noqa: S608


@dataclass
class BigQueryTarget:
    """A table id in a dataset of the test's own on the in-process emulator, and the client to check it."""

    client: bigquery.Client
    table_id: str
    endpoint: str

    def sink(self, table_id: str | None = None) -> BigQuerySink:
        """A BigQuery sink on the emulator (as the writer builds it from BIGQUERY_EMULATOR_HOST)."""
        return BigQuerySink(table_id or self.table_id, emulator_host=self.endpoint)

    def scalar(self, select: str, table: str | None = None, where: str = "") -> Any:
        """The one value a query returns."""
        return next(iter(self.client.query(table_sql(select, table or self.table_id, where)).result()))[0]

    def report_ids(self, table: str) -> set[str]:
        """Every reportID in ``table``."""
        return {row[0] for row in self.client.query(table_sql("reportID", table)).result()}

    def assert_created_as_committed(self, table_id: str) -> None:
        """``table_id`` has the committed schema, a partition a day of ``receivedAt`` and clustering on
        ``clusterID``."""
        table = self.client.get_table(table_id)
        assert [f.to_api_repr() for f in table.schema] == load_table_schema()
        assert table.time_partitioning.field == "receivedAt"
        assert table.time_partitioning.type_ == "DAY"
        assert table.clustering_fields == ["clusterID"]

    def create_table_refusing_master_versions(self) -> None:
        """The table with ``masterVersion`` an INTEGER: every row that has one (a string) is refused."""
        schema = [
            bigquery.SchemaField("masterVersion", "INTEGER")
            if c["name"] == "masterVersion"
            else bigquery.SchemaField.from_api_repr(c)
            for c in load_table_schema()
        ]
        self.client.create_table(bigquery.Table(self.table_id, schema=schema))


@pytest.fixture
def bq_target(bq_client: bigquery.Client, bq_dataset: str, bqemu_endpoint: Any) -> BigQueryTarget:
    """``<dataset>.reports`` on the in-process emulator."""
    return BigQueryTarget(bq_client, f"{bq_dataset}.reports", bqemu_endpoint.rest_url)
