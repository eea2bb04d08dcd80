"""Putting a synthetic fleet's rows into the two stores, as the writer would have stored them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb
from google.cloud import bigquery

from schema.bigquery import load_table_schema
from writer.duckdb_sink import DuckDbSink
from writer.rows import decode_report

SPLIT_COLUMNS = ("part", "parts")


def load_duckdb(path: str, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` through the writer's DuckDB sink, then set ``part``/``parts`` on the rows of split reports.

    The fleet's split report comes already sliced into rows (the writer slices only reports too large for one
    row), so the slices' ``part``/``parts`` are set here, as the writer would have written them.
    """
    sink = DuckDbSink(path)
    try:
        for start in range(0, len(rows), 500):
            batch = rows[start : start + 500]
            sink.write([decode_report(json.dumps(r).encode()) for r in batch])
    finally:
        sink.close()
    with duckdb.connect(path) as db:
        for stored in rows:
            if "part" in stored:
                db.execute(
                    "UPDATE reports SET part = ?, parts = ? WHERE reportID = ? AND nodes[1].id = ?",
                    [stored["part"], stored["parts"], stored["reportID"], stored["nodes"][0]["id"]],
                )


def load_bigquery(client: bigquery.Client, table_id: str, rows: Sequence[dict[str, Any]]) -> None:
    """Create ``table_id`` with the committed schema plus ``part``/``parts``, and insert ``rows``."""
    schema = [bigquery.SchemaField.from_api_repr(f) for f in load_table_schema()]
    names = {f.name for f in schema}
    schema += [bigquery.SchemaField(c, "INTEGER", mode="NULLABLE") for c in SPLIT_COLUMNS if c not in names]
    client.create_table(bigquery.Table(table_id, schema=schema))
    for start in range(0, len(rows), 200):
        errors = client.insert_rows_json(table_id, list(rows[start : start + 200]))
        assert errors == [], errors[:3]
