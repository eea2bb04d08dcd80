"""The SQL of the embedded DuckDB store, and the JSON documents its inserts take: text only, no DuckDB.

Every statement is built from the committed table schema and module
constants, never from input; values travel as bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Final

from schema.bigquery import FieldSchema
from schema.figures import dedup_view_sql, latest_reports_sql
from writer.rows import Row

TABLE: Final = "reports"
DEDUP_VIEW: Final = "reports_dedup"

_SCALAR_TYPES: Final = {"STRING": "VARCHAR", "TIMESTAMP": "TIMESTAMPTZ", "INTEGER": "BIGINT", "BOOLEAN": "BOOLEAN"}

STATEMENT_BYTES: Final = 4 * 2**20
"""JSON bytes per INSERT at most: a batch of large reports goes in several statements."""


def quote(name: str) -> str:
    """``name`` as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def column_type(column: FieldSchema) -> str:
    """The DuckDB type of a BigQuery schema column: RECORD becomes STRUCT, REPEATED a list."""
    if column["type"] == "RECORD":
        inner = ", ".join(f"{quote(f['name'])} {column_type(f)}" for f in column["fields"])
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


def create_table_sql(columns: Sequence[FieldSchema]) -> str:
    """``CREATE TABLE IF NOT EXISTS reports`` with ``columns``."""
    defs = []
    for column in columns:
        not_null = " NOT NULL" if column["mode"] == "REQUIRED" else ""
        defs.append(f"{quote(column['name'])} {column_type(column)}{not_null}")
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(defs)})"


def insert_sql(columns: Sequence[FieldSchema]) -> str:
    """The INSERT of one document of JSON lines (one bound parameter), a table row a line."""
    structure = json.dumps(_json_structure(columns))
    # Splitting the lines and parsing each report on its own costs DuckDB about half the CPU of parsing the
    # batch as one JSON array (one huge value) and unnesting it.
    return (
        f"INSERT INTO {TABLE} BY NAME SELECT unnest(from_json(line, '{structure}')) "  # noqa: S608
        "FROM (SELECT unnest(string_split(?, chr(10))) AS line)"
    )


# The dedup view and the latest report of each cluster follow the one rule of schema.figures.
DEDUP_SQL: Final = f"CREATE OR REPLACE VIEW {DEDUP_VIEW} AS " + dedup_view_sql(dialect="duckdb", table=TABLE)
LATEST_SQL: Final = latest_reports_sql(dialect="duckdb", table=TABLE)

EXPIRE_STEP_SQL: Final = f"""DELETE FROM {TABLE} WHERE rowid IN (
    SELECT rowid FROM {TABLE} WHERE "receivedAt" < ? LIMIT ?
)"""  # noqa: S608
"""One step of retention: at most ``?`` rows received before ``?``; rows without ``receivedAt`` are kept."""

FORGET_SQL: Final = f'DELETE FROM {TABLE} WHERE "clusterID" = ?'  # noqa: S608


def documents(rows: Sequence[Row]) -> Iterator[str]:
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


def halves(document: str) -> list[str]:
    """``document`` as two documents of about half its lines each (one line stays whole)."""
    lines = document.split("\n")
    middle = len(lines) // 2
    return ["\n".join(lines[:middle]), "\n".join(lines[middle:])] if middle else [document]


def plain(value: Any) -> Any:
    """A stored value as JSON-ready data: timestamps as ISO text, NULL struct fields left out."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if item is not None}
    return value


def joined(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
