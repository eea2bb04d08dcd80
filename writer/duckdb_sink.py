"""The embedded DuckDB sink: table ``reports`` with the BigQuery columns, nested data as STRUCT lists.

DuckDB lets one process at a time open a file for writing and holds an OS
lock on it. A second writer process on the same file therefore fails at
start with ``SinkConfigError`` naming the holder; it never writes. Several
writers need BigQuery, or one DuckDB file each.

A batch is a series of ``INSERT`` statements of the table rows as JSON
lines that DuckDB splits and parses itself, each about 4 MB at most and
committed on its own; each is in the write-ahead log when it returns. A split
report is stored as its parts, one table row each, as in BigQuery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

import duckdb

from schema.bigquery import FieldSchema, load_table_schema
from writer.errors import PermanentSinkError, SinkConfigError, StoreLockedError, TransientSinkError
from writer.rows import Row
from writer.sinks import WriteResult

TABLE: Final = "reports"
DEDUP_VIEW: Final = "reports_dedup"

_SCALAR_TYPES: Final = {"STRING": "VARCHAR", "TIMESTAMP": "TIMESTAMPTZ", "INTEGER": "BIGINT"}


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


# SQL below is built from module constants only, never from input.
_DEDUP_SQL: Final = f"""CREATE OR REPLACE VIEW {DEDUP_VIEW} AS
SELECT * FROM {TABLE}
QUALIFY row_number() OVER (
    PARTITION BY coalesce("reportID", "clusterID" || '/' || "timestamp"), "part" ORDER BY "receivedAt"
) = 1"""  # noqa: S608

_REPORT_KEY: Final = """coalesce("reportID", "clusterID" || '/' || "timestamp")"""

# The newest report of each cluster (by its first part), then every part of it, in order.
_LATEST_SQL: Final = f"""WITH latest AS (
    SELECT {_REPORT_KEY} AS report_key FROM {DEDUP_VIEW}
    WHERE coalesce("part", 0) = 0
    QUALIFY row_number() OVER (PARTITION BY "clusterID" ORDER BY "receivedAt" DESC NULLS LAST, "timestamp" DESC) = 1
)
SELECT {DEDUP_VIEW}.* FROM {DEDUP_VIEW} JOIN latest ON {_REPORT_KEY} = latest.report_key
ORDER BY "clusterID", "part" NULLS FIRST"""  # noqa: S608

STATEMENT_BYTES: Final = 4 * 2**20
"""JSON bytes per INSERT at most: a batch of large reports goes in several statements of one transaction."""
MEMORY_LIMIT: Final = "256MB"
"""DuckDB's own buffer memory: without a limit it keeps up to 80% of the machine's memory cached, far over a pod's
limit; past this it writes to its temporary directory instead."""


def _connect(path: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(path, read_only=read_only)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            raise StoreLockedError(
                f"DuckDB file {path} is open in another process, and DuckDB allows one writer process per file: "
                f"stop the other process, give each writer its own file, or use BigQuery for several writers ({e})"
            ) from e
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e
    except duckdb.Error as e:
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e


class DuckDbSink:
    """Writes rows into ``reports`` in one DuckDB file, creating the table and the dedup view."""

    name = "duckdb"

    def __init__(self, path: str) -> None:
        """Open (or create) ``path`` for writing.

        Raises:
            SinkConfigError: the file is locked by another process or cannot be opened or migrated.
        """
        self.path = path
        self._connection = _connect(path)
        self._connection.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        columns = load_table_schema()
        try:
            self._migrate(columns)
        except duckdb.Error as e:
            self._connection.close()
            raise SinkConfigError(f"cannot prepare table {TABLE} in {path}: {e}") from e
        structure = json.dumps(_json_structure(columns))
        # The structure comes from the committed schema; the rows travel as one bound parameter, a report a line.
        # Splitting the lines and parsing each report on its own costs DuckDB about half the CPU of parsing the
        # batch as one JSON array (one huge value) and unnesting it.
        self._insert_sql = (
            f"INSERT INTO {TABLE} BY NAME SELECT unnest(from_json(line, '{structure}')) "  # noqa: S608
            "FROM (SELECT unnest(string_split(?, chr(10))) AS line)"
        )

    def _migrate(self, columns: Sequence[FieldSchema]) -> None:
        self._connection.execute(_create_table_sql(columns))
        existing = {row[0] for row in self._connection.execute(f"DESCRIBE {TABLE}").fetchall()}
        for column in columns:
            # Newer columns are NULLABLE by contract, so an older file gains them with NULLs.
            if column["name"] not in existing and column["mode"] != "REQUIRED":
                self._connection.execute(
                    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {_quote(column['name'])} {_column_type(column)}"
                )
        self._connection.execute(_DEDUP_SQL)

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Insert ``rows`` in one statement.

        Raises:
            PermanentSinkError: DuckDB refused the data (a constraint or conversion error).
            TransientSinkError: an I/O error (disk full, for example).
        """
        if not rows:
            return WriteResult()
        try:
            # Each statement commits on its own: DuckDB cannot spill a transaction's new rows, so one
            # transaction for a batch of large reports would need them all in memory. A batch that fails
            # half-way is written again whole, and the dedup view hides the rows written twice.
            for document in _documents(rows):
                self._connection.execute(self._insert_sql, [document])
        except (duckdb.ConstraintException, duckdb.ConversionException, duckdb.InvalidInputException) as e:
            raise PermanentSinkError(f"DuckDB refused the rows: {e}") from e
        except duckdb.Error as e:
            raise TransientSinkError(f"DuckDB write failed: {e}") from e
        return WriteResult()

    def close(self) -> None:
        """Checkpoint and close the file, releasing its lock."""
        self._connection.close()


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

    Opens the file read-only; DuckDB refuses that while a writer process holds it.

    Raises:
        SinkConfigError: the file cannot be opened (missing, or locked by a writer).
    """
    connection = _connect(path, read_only=True)
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
