"""The sink a ``--database`` names: this module only picks and opens the implementation.

- ``bigquery://project.dataset.table``: BigQuery through the Storage Write API (``writer.bigquery_write``), or
  with ``--bigquery-api=insertall`` through the legacy streaming API (``writer.bigquery_sink``);
- ``duckdb:///path/file.duckdb``: an embedded DuckDB file, table ``reports`` (``writer.duckdb_sink``);
- ``stdout``: one JSON object a line (``writer.stdout_sink``).

The URL was checked once, by the settings (``runtime.stores``). Each store's
client is imported only when that store is chosen, so a writer for DuckDB
never loads the Google client, and one built without DuckDB still writes to
BigQuery. The port itself is ``writer.sink``.
"""

from __future__ import annotations

from datetime import timedelta

from runtime.stores import StoreURL
from writer.errors import SinkConfigError
from writer.sink import Sink
from writer.stdout_sink import StdoutSink


def open_sink(
    store: StoreURL,
    *,
    emulator_host: str | None = None,
    retention: timedelta | None = None,
    duckdb_memory_limit: int | None = None,
    bigquery_api: str = "storage-write",
    write_endpoint: str | None = None,
) -> Sink:
    """Open the sink ``store`` (a parsed ``--database``) names.

    ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST`` (read by the CLI), with or without ``http://``;
    ``retention`` is how long reports are kept (None: forever); ``duckdb_memory_limit`` overrides the
    DuckDB memory limit derived from the container's. ``bigquery_api`` picks how BigQuery is written:
    ``storage-write`` (``writer.bigquery_write``) or ``insertall`` (``writer.bigquery_sink``);
    ``write_endpoint`` is a plaintext ``host:port`` for the Storage Write API.

    Raises:
        SinkConfigError: the store cannot be opened as configured.
    """
    if store.kind == "duckdb":
        return _duckdb_sink(store.path, retention=retention, memory_limit=duckdb_memory_limit)
    if store.kind == "bigquery":
        return _bigquery_sink(
            store.table,
            emulator_host=emulator_host,
            api=bigquery_api,
            write_endpoint=write_endpoint,
            retention=retention,
        )
    return StdoutSink()


def _duckdb_sink(path: str, *, retention: timedelta | None, memory_limit: int | None) -> Sink:
    try:
        from writer.duckdb_sink import DuckDbSink  # noqa: PLC0415  # DuckDB loads only when chosen
    except ModuleNotFoundError as e:  # the container image leaves DuckDB out unless built with DUCKDB=on
        raise SinkConfigError(
            f"--database {'duckdb:///' + path!r}: the duckdb package is not installed here "
            "(pip install duckdb, or build the image with --build-arg DUCKDB=on)"
        ) from e
    from writer.duckdb_memory import duckdb_memory  # noqa: PLC0415  # as above

    return DuckDbSink(path, memory=duckdb_memory(memory_limit), retention=retention)


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
