"""The embedded DuckDB sink: table ``reports`` with the BigQuery columns, nested data as STRUCT lists.

DuckDB lets one process at a time open a file for writing, and no other
process read it meanwhile. So that readers (``spartakus dashboard``,
``spartakus reports``, the DuckDB CLI) can use the file while a writer runs,
the sink holds the file only while it has work (``runtime.storelock``): it
closes it after ``RELEASE_AFTER_IDLE`` seconds without a batch, and right after
a batch when a reader waits at the gate; the next batch opens it again. A
second writer process on the same file still fails at start with
``SinkConfigError``, through the writer lock; it never writes.

A batch is a series of ``INSERT`` statements of the table rows as JSON
lines that DuckDB splits and parses itself, each about 4 MB at most and
committed on its own; each is in the write-ahead log when it returns. A split
report is stored as its parts, one table row each, as in BigQuery. Closing
the file checkpoints it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import duckdb

from runtime.storelock import StoreBusyError, WriterLock, WriterRunningError, gate, poll, reader_waiting
from schema.bigquery import FieldSchema, load_table_schema
from schema.figures import dedup_view_sql, latest_reports_sql
from writer.errors import PermanentSinkError, SinkConfigError, StoreLockedError, TransientSinkError
from writer.rows import Row
from writer.sinks import WriteResult

TABLE: Final = "reports"
DEDUP_VIEW: Final = "reports_dedup"

_SCALAR_TYPES: Final = {"STRING": "VARCHAR", "TIMESTAMP": "TIMESTAMPTZ", "INTEGER": "BIGINT", "BOOLEAN": "BOOLEAN"}

RELEASE_AFTER_IDLE: Final = 0.2
"""Seconds without a batch after which the writer closes the file, so that any reader may open it."""
OPEN_TIMEOUT: Final = 10.0
"""Seconds the writer waits for readers to close the file before the batch counts as a transient failure."""
READ_OPEN_TIMEOUT: Final = 30.0
"""Seconds a reader waits for the writer to let go of the file."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_type(column: FieldSchema) -> str:
    if column["type"] == "RECORD":
        inner = ", ".join(f"{_quote(f['name'])} {_column_type(f)}" for f in column["fields"])
        kind = f"STRUCT({inner})"
    else:
        kind = _SCALAR_TYPES[column["type"]]
    return f"{kind}[]" if column["mode"] == "REPEATED" else kind


def _json_structure(columns: Sequence[FieldSchema]) -> dict[str, Any]:
    # from_json's structure argument: a sample document with type names as values.
    structure: dict[str, Any] = {}
    for column in columns:
        if column["type"] == "RECORD":
            value: Any = _json_structure(column["fields"])
        else:
            value = _SCALAR_TYPES[column["type"]]
        structure[column["name"]] = [value] if column["mode"] == "REPEATED" else value
    return structure


def _create_table_sql(columns: Sequence[FieldSchema]) -> str:
    defs = []
    for column in columns:
        not_null = " NOT NULL" if column["mode"] == "REQUIRED" else ""
        defs.append(f"{_quote(column['name'])} {_column_type(column)}{not_null}")
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(defs)})"


# The dedup view and the latest report of each cluster follow the one rule of schema.figures.
_DEDUP_SQL: Final = f"CREATE OR REPLACE VIEW {DEDUP_VIEW} AS " + dedup_view_sql(dialect="duckdb", table=TABLE)
_LATEST_SQL: Final = latest_reports_sql(dialect="duckdb", table=TABLE)

STATEMENT_BYTES: Final = 4 * 2**20
"""JSON bytes per INSERT at most: a batch of large reports goes in several statements of one transaction."""
MEMORY_LIMIT: Final = "256MB"
"""DuckDB's own buffer memory: without a limit it keeps up to 80% of the machine's memory cached, far over a pod's
limit; past this it writes to its temporary directory instead."""


def _connect(path: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection | None:
    """A connection to ``path``, or None while another process has the file open."""
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            return None
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e
    except duckdb.Error as e:
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e


def open_when_free(path: str, *, read_only: bool, timeout: float) -> duckdb.DuckDBPyConnection:
    """Open ``path`` through the gate, waiting up to ``timeout`` for the processes that have it to close it.

    Raises:
        StoreBusyError: the file (or its gate) stayed taken.
        SinkConfigError: the file cannot be opened at all.
    """
    if read_only and not os.path.exists(path):
        raise SinkConfigError(f"cannot open DuckDB file {path}: it does not exist")
    with gate(path, timeout=timeout, create=not read_only):
        return poll(lambda: _connect(path, read_only=read_only), timeout=timeout, what=f"DuckDB file {path}")


class DuckDbSink:
    """Writes rows into ``reports`` in one DuckDB file, creating the table and the dedup view."""

    name = "duckdb"

    def __init__(self, path: str, *, release_after_idle: float = RELEASE_AFTER_IDLE) -> None:
        """Take ``path`` for this writer process, and create or migrate its table.

        Raises:
            SinkConfigError: another writer has the file, or it cannot be opened or migrated.
        """
        self.path = path
        self._release_after_idle = release_after_idle
        self._lock = threading.Lock()
        """Held while the connection is used, opened or closed: the sink thread and the release timer share it."""
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._timer: threading.Timer | None = None
        try:
            self._writer_lock = WriterLock(path)
        except WriterRunningError as e:
            raise StoreLockedError(
                f"DuckDB file {path} is open in another process, and DuckDB allows one writer process per file: "
                f"stop the other process, give each writer its own file, or use BigQuery for several writers ({e})"
            ) from e
        except OSError as e:
            raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e
        columns = load_table_schema()
        try:
            with self._lock:
                self._migrate(self._open(), columns)
                self._after_work()
        except (SinkConfigError, TransientSinkError, duckdb.Error) as e:
            self.close()
            if isinstance(e, SinkConfigError):
                raise
            raise SinkConfigError(f"cannot prepare table {TABLE} in {path}: {e}") from e
        structure = json.dumps(_json_structure(columns))
        # The structure comes from the committed schema; the rows travel as one bound parameter, a report a line.
        # Splitting the lines and parsing each report on its own costs DuckDB about half the CPU of parsing the
        # batch as one JSON array (one huge value) and unnesting it.
        self._insert_sql = (
            f"INSERT INTO {TABLE} BY NAME SELECT unnest(from_json(line, '{structure}')) "  # noqa: S608
            "FROM (SELECT unnest(string_split(?, chr(10))) AS line)"
        )

    @staticmethod
    def _migrate(connection: duckdb.DuckDBPyConnection, columns: Sequence[FieldSchema]) -> None:
        connection.execute(_create_table_sql(columns))
        existing = {row[0] for row in connection.execute(f"DESCRIBE {TABLE}").fetchall()}
        for column in columns:
            # Newer columns are NULLABLE by contract, so an older file gains them with NULLs.
            if column["name"] not in existing and column["mode"] != "REQUIRED":
                connection.execute(
                    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {_quote(column['name'])} {_column_type(column)}"
                )
        connection.execute(_DEDUP_SQL)

    def _open(self) -> duckdb.DuckDBPyConnection:
        """The open connection, opening the file first if the sink had let go of it (with ``_lock`` held)."""
        if self._connection is None:
            try:
                connection = open_when_free(self.path, read_only=False, timeout=OPEN_TIMEOUT)
            except StoreBusyError as e:
                raise TransientSinkError(f"DuckDB file {self.path} is busy with readers: {e}") from e
            connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
            self._connection = connection
        return self._connection

    def _after_work(self) -> None:
        """Let go of the file now if a reader waits, else once the sink has been idle a while (``_lock`` held)."""
        if reader_waiting(self.path):
            self._release()
            return
        self._timer = threading.Timer(self._release_after_idle, self._release_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _cancel_release(self) -> None:
        """Work is coming: the idle release must not close the file under it (``_lock`` held)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release_if_idle(self) -> None:
        with self._lock:
            if self._timer is threading.current_thread():
                self._release()

    def _release(self) -> None:
        """Close the connection, which checkpoints the file and lets readers in (``_lock`` held)."""
        self._timer = None
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Insert ``rows``, in statements of about ``STATEMENT_BYTES`` each.

        Raises:
            PermanentSinkError: DuckDB refused the data (a constraint or conversion error).
            TransientSinkError: an I/O error (disk full, for example), or readers kept the file for too long.
        """
        if not rows:
            return WriteResult()
        with self._lock:
            self._cancel_release()
            connection = self._open()
            try:
                # Each statement commits on its own: DuckDB cannot spill a transaction's new rows, so one
                # transaction for a batch of large reports would need them all in memory. A batch that fails
                # half-way is written again whole, and the dedup view hides the rows written twice.
                for document in _documents(rows):
                    connection.execute(self._insert_sql, [document])
            except (duckdb.ConstraintException, duckdb.ConversionException, duckdb.InvalidInputException) as e:
                raise PermanentSinkError(f"DuckDB refused the rows: {e}") from e
            except duckdb.Error as e:
                self._release()  # the next attempt opens the file afresh
                raise TransientSinkError(f"DuckDB write failed: {e}") from e
            finally:
                self._after_work()
        return WriteResult()

    def fetchall(self, sql: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read query on the file, through this sink's connection (for checks of what it stored)."""
        with self._lock:
            self._cancel_release()
            connection = self._open()
            try:
                return connection.execute(sql, list(parameters)).fetchall()
            finally:
                self._after_work()

    def close(self) -> None:
        """Checkpoint and close the file, and give up the writer lock."""
        with self._lock:
            self._cancel_release()
            self._release()
        self._writer_lock.release()


def _documents(rows: Sequence[Row]) -> Iterator[str]:
    """The rows' table rows as JSON lines, in documents of about ``STATEMENT_BYTES`` at most."""
    # A payload is compact JSON, where a line break can only appear escaped, so lines separate table rows.
    lines: list[bytes] = []
    size = 0
    for payload in (payload for row in rows for payload in row.payloads):
        if lines and size + len(payload) > STATEMENT_BYTES:
            yield b"\n".join(lines).decode()
            lines, size = [], 0
        lines.append(payload)
        size += len(payload) + 1
    if lines:
        yield b"\n".join(lines).decode()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    return value


def latest_reports(path: str) -> list[dict[str, Any]]:
    """The newest stored report of each cluster (duplicates removed), as wire-shaped dicts.

    Opens the file read-only through the gate, so a running writer lets go of it for the read.

    Raises:
        SinkConfigError: the file cannot be opened (missing, or kept by another process for too long).
    """
    try:
        connection = open_when_free(path, read_only=True, timeout=READ_OPEN_TIMEOUT)
    except StoreBusyError as e:
        raise StoreLockedError(f"DuckDB file {path} is open in another process: {e}") from e
    try:
        cursor = connection.execute(_LATEST_SQL)
        names = [d[0] for d in cursor.description or []]
        return _joined([_plain(dict(zip(names, row, strict=True))) for row in cursor.fetchall()])
    except duckdb.Error as e:
        raise SinkConfigError(f"cannot read reports from {path}: {e}") from e
    finally:
        connection.close()


def _joined(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows in report order, the parts of a split report joined back into one report."""
    reports: list[dict[str, Any]] = []
    for row in rows:
        part = row.pop("part", None)
        row.pop("parts", None)
        if part and reports and reports[-1].get("clusterID") == row.get("clusterID"):
            reports[-1].setdefault("nodes", []).extend(row.get("nodes") or [])
        else:
            reports.append(row)
    return reports
