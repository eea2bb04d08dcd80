"""The page's files and the query text, without a store or a browser."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlglot

from dashboard.page import asset, standalone_page
from dashboard.query import adoption_sql

STATIC = Path(__file__).resolve().parents[2] / "dashboard" / "static"


def test_the_vendored_chart_library_is_the_file_its_notes_name() -> None:
    notes = (STATIC / "VENDORED.md").read_text()
    recorded = re.search(r"`chart.umd.min.js` \| `([0-9a-f]{64})`", notes)

    assert recorded is not None
    assert hashlib.sha256(asset("chart.umd.min.js")).hexdigest() == recorded.group(1)
    assert (STATIC / "chart.js.LICENSE.md").read_text().startswith("The MIT License")


HOSTILE_LABELS = ("</script><img src=x>", "<!--<script>", "]]>&amp;<b>", "\u2028line\u2029", "</SCRIPT >")


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_no_label_can_end_or_hide_the_data_script(label: str) -> None:
    data = {"by_os_image": [{"key": label, "clusters": 1, "nodes": 1}]}

    page = standalone_page(data).decode()

    assert page.lower().count("<script") == 3  # the library, the data, the page's own script
    assert page.lower().count("</script") == 3
    payload = page.split("window.SPARTAKUS_ADOPTION = ", 1)[1].split(";</script>", 1)[0]
    assert not set("<>&\u2028\u2029") & set(payload)
    assert json.loads(payload) == data


def test_the_bigquery_query_reads_the_named_table_and_lacks_columns_as_nulls() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)

    sql = adoption_sql(dialect="bigquery", table="my-project.spartakus.reports", columns={"clusterID"}, start=start)

    assert "FROM `my-project`.`spartakus`.`reports`" in sql
    assert "`reportID`" not in sql
    assert "`receivedAt`" not in sql
    sqlglot.parse_one(sql, read="bigquery")  # it is BigQuery SQL that parses back


def test_the_window_start_must_carry_a_timezone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        adoption_sql(dialect="duckdb", table="reports", columns=set(), start=datetime(2026, 11, 1))
