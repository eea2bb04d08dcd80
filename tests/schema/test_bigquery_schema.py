"""The committed BigQuery schema: generated from the models, and a superset of the original table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schema.bigquery import generate_table_schema, load_table_schema, render_table_schema
from tests.schema.original_table import ORIGINAL_TABLE

COMMITTED = Path(__file__).resolve().parents[2] / "schema" / "reports.bigquery.json"

_S = "STRING"
_REQUIRED = "REQUIRED"
_NULLABLE = "NULLABLE"


def _problems(original: list[dict[str, Any]], ours: list[dict[str, Any]], path: str = "") -> list[str]:
    """Where ``ours`` fails to be a superset of ``original``: missing or changed columns, non-NULLABLE additions."""
    ours_by_name = {c["name"]: c for c in ours}
    original_names = {c["name"] for c in original}
    problems = []
    for column in original:
        where = f"{path}{column['name']}"
        mine = ours_by_name.get(column["name"])
        if mine is None:
            problems.append(f"{where}: missing")
            continue
        if (mine["type"], mine["mode"]) != (column["type"], column["mode"]):
            problems.append(f"{where}: {mine['type']} {mine['mode']} instead of {column['type']} {column['mode']}")
        if "fields" in column:
            problems += _problems(column["fields"], mine.get("fields", []), f"{where}.")
    problems += [
        f"{path}{c['name']}: new column must be NULLABLE"
        for c in ours
        if c["name"] not in original_names and c["mode"] != _NULLABLE
    ]
    return problems


def test_committed_schema_file_matches_the_models() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == render_table_schema(), (
        "schema/reports.bigquery.json is stale: run python -m schema.bigquery > schema/reports.bigquery.json"
    )


def test_packaged_schema_is_the_committed_file() -> None:
    assert load_table_schema() == json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_schema_is_a_superset_of_the_original_spartakus_table() -> None:
    assert _problems(ORIGINAL_TABLE, generate_table_schema()) == []


def test_superset_check_catches_a_changed_mode_and_a_required_addition() -> None:
    broken = json.loads(json.dumps(ORIGINAL_TABLE))
    broken[3]["mode"] = _REQUIRED
    broken[4]["fields"][8]["fields"].append({"name": "unit", "type": _S, "mode": _REQUIRED})

    assert _problems(ORIGINAL_TABLE, broken) == [
        "masterVersion: STRING REQUIRED instead of STRING NULLABLE",
        "nodes.capacity.unit: new column must be NULLABLE",
    ]


def test_new_columns_are_report_id_and_receive_time() -> None:
    new = {c["name"]: (c["type"], c["mode"]) for c in generate_table_schema()}
    assert new["reportID"] == (_S, _NULLABLE)
    assert new["receivedAt"] == ("TIMESTAMP", _NULLABLE)
