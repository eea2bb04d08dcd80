"""``schema.figures`` is the one home of the rule: the writers' views and ``spartakus reports`` take SQL from it."""

from __future__ import annotations

import sqlglot

from schema import figures
from writer import bigquery_sink, duckdb_sql


def test_the_dedup_views_of_both_writers_are_the_shared_definition() -> None:
    columns = ["version", "clusterID", "nodes"]

    assert bigquery_sink.dedup_view_sql("p.d.reports", columns) == figures.dedup_view_sql(
        dialect="bigquery", table="`p.d.reports`", columns=columns
    )
    assert duckdb_sql.DEDUP_SQL.endswith(figures.dedup_view_sql(dialect="duckdb", table=duckdb_sql.TABLE))
    assert figures.latest_reports_sql(dialect="duckdb", table=duckdb_sql.TABLE) == duckdb_sql.LATEST_SQL


def test_the_dedup_key_holds_the_cluster_the_report_id_and_the_part() -> None:
    sql = figures.dedup_view_sql(dialect="bigquery", table="`p.d.reports`")

    window = sqlglot.parse_one(sql, read="bigquery").find(sqlglot.exp.Window)
    assert window is not None
    keys = [key.sql("bigquery").lower() for key in window.args["partition_by"]]
    assert keys == ["`clusterid`", "coalesce(`reportid`, `clusterid` || '/' || `timestamp`)", "`part`"]


def test_the_latest_report_is_ordered_by_timestamp_then_first_received_then_id() -> None:
    order = figures.latest_order(sent="sent", received_at="received_at", key="report_key")

    assert order == "sent DESC NULLS LAST, received_at ASC NULLS LAST, report_key ASC"
    for dialect in ("duckdb", "bigquery"):
        sqlglot.parse_one(figures.latest_reports_sql(dialect=dialect, table="reports"), read=dialect)
