"""The sink port: where batches of rows go, chosen with ``--database``.

- ``bigquery://project.dataset.table``: BigQuery through the Storage Write API (``writer.bigquery_write``), or
  with ``--bigquery-api=insertall`` through the legacy streaming API (``writer.bigquery_sink``);
- ``duckdb:///path/file.duckdb``: an embedded DuckDB file, table ``reports`` (``writer.duckdb_sink``);
- ``stdout``: one JSON object a line.

Each store's client is imported only when that store is chosen, so a writer
for DuckDB never loads the Google client.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

from runtime.stores import bigquery_table, duckdb_path
from writer.errors import SinkConfigError
from writer.rows import Row


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a sink made of a batch: every row it did not reject is durably stored."""

    rejected: Mapping[int, str] = field(default_factory=dict)
    """Index in the batch -> why the store refused that row for good."""


class Sink(Protocol):
    """A store that durably accepts batches of rows."""

    @property
    def name(self) -> str:
        """Short name for logs and metrics: ``bigquery``, ``duckdb`` or ``stdout``."""
        ...

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Store ``rows``; return only once they are durable.

        Raises:
            TransientSinkError: nothing can be assumed stored; the same rows may be written again.
            PermanentSinkError: the request as a whole is invalid.
        """
        ...

    def close(self) -> None:
        """Release the store's connection."""
        ...


class StdoutSink:
    """JSON lines on standard output (or any binary stream)."""

    name = "stdout"

    def __init__(self, stream: BinaryIO | None = None) -> None:
        self._stream = stream if stream is not None else sys.stdout.buffer

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Print one report a line and flush."""
        self._stream.write(b"".join(payload + b"\n" for row in rows for payload in row.payloads))
        self._stream.flush()
        return WriteResult()

    def close(self) -> None:
        """Flush; standard output stays open."""
        self._stream.flush()


def open_sink(
    database: str,
    *,
    emulator_host: str | None = None,
    retention: timedelta | None = None,
    duckdb_memory_limit: int | None = None,
    bigquery_api: str = "storage-write",
    write_endpoint: str | None = None,
) -> Sink:
    """Open the sink ``database`` names.

    ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST`` (read by the CLI), with or without ``http://``;
    ``retention`` is how long reports are kept (None: forever); ``duckdb_memory_limit`` overrides the
    DuckDB memory limit derived from the container's. ``bigquery_api`` picks how BigQuery is written:
    ``storage-write`` (``writer.bigquery_write``) or ``insertall`` (``writer.bigquery_sink``);
    ``write_endpoint`` is a plaintext ``host:port`` for the Storage Write API.

    Raises:
        SinkConfigError: the URL is malformed or the store cannot be opened as configured.
    """
    if database == "stdout":
        return StdoutSink()
    parts = urlsplit(database)
    if parts.scheme == "duckdb":
        try:
            from writer.duckdb_sink import DuckDbSink  # noqa: PLC0415  # DuckDB loads only when chosen
        except ModuleNotFoundError as e:  # the container image leaves DuckDB out unless built with DUCKDB=on
            raise SinkConfigError(
                f"--database {database!r}: the duckdb package is not installed here "
                "(pip install duckdb, or build the image with --build-arg DUCKDB=on)"
            ) from e

        path = duckdb_path(database)
        if not path:
            raise SinkConfigError(
                f"--database {database!r}: give a file, e.g. duckdb:////var/lib/spartakus/reports.duckdb"
            )
        from writer.duckdb_memory import duckdb_memory  # noqa: PLC0415  # as above

        return DuckDbSink(path, memory=duckdb_memory(duckdb_memory_limit), retention=retention)
    if parts.scheme == "bigquery":
        if not (table := bigquery_table(parts.netloc, parts.path)):
            raise SinkConfigError(f"--database {database!r}: expected bigquery://project.dataset.table")
        return _bigquery_sink(
            table, emulator_host=emulator_host, api=bigquery_api, write_endpoint=write_endpoint, retention=retention
        )
    raise SinkConfigError(
        f"--database {database!r}: use bigquery://project.dataset.table, duckdb:///relative/file.duckdb, "
        "duckdb:////absolute/file.duckdb or stdout"
    )


def _bigquery_sink(
    table: str, *, emulator_host: str | None, api: str, write_endpoint: str | None, retention: timedelta | None
) -> Sink:
    if api not in {"insertall", "storage-write"}:
        raise SinkConfigError(f"--bigquery-api {api!r}: use storage-write or insertall")
    # The Google clients load only when BigQuery is chosen.
    from writer.bigquery_sink import BigQuerySink  # noqa: PLC0415

    tables = BigQuerySink(table, emulator_host=emulator_host, retention=retention)
    if api == "insertall":
        return tables
    from writer.bigquery_write import BigQueryWriteSink  # noqa: PLC0415

    return BigQueryWriteSink(table, emulator_host=emulator_host, write_endpoint=write_endpoint, tables=tables)
