"""What a view costs on BigQuery: the SQL the dashboard sends, seen through a recording proxy.

Every read of the reports table compares ``receivedAt`` itself with a
constant (so BigQuery prunes the partitions outside the window), every job
carries ``maximumBytesBilled``, views within one refresh are answered from the
dashboard's last answer, and views within one hour send identical SQL (so
BigQuery's result cache can answer them).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlglot
from google.cloud import bigquery
from sqlglot import exp

from tests.support.bq_recording_proxy import recording_proxy
from tests.support.dashboard_process import dashboard, fetch
from tests.support.fleet import Fleet
from tests.support.fleet_stores import load_bigquery

pytestmark = pytest.mark.integration

MAX_BYTES = 5_000_000_000


def _conjuncts(condition: exp.Expr) -> list[exp.Expr]:
    return list(condition.flatten()) if isinstance(condition, exp.And) else [condition]


def _prunes(select: exp.Select) -> bool:
    """The SELECT's WHERE has, as one of its ANDed terms, ``receivedAt >= <constant>`` with the column bare."""
    where = select.args.get("where")
    if where is None:
        return False
    for term in _conjuncts(where.this):
        bare = isinstance(term, exp.GTE | exp.GT) and isinstance(term.this, exp.Column)
        if bare and term.this.name == "receivedAt" and not list(term.expression.find_all(exp.Column)):
            return True
    return False


def unpruned_reads(sql: str, table: str) -> list[str]:
    """Each read of ``table`` in ``sql`` whose SELECT lacks a direct ``receivedAt`` window predicate."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    reads = [t for t in tree.find_all(exp.Table) if t.name == table]
    assert reads, f"the query does not read {table}"
    return [t.sql("bigquery") for t in reads if not _prunes(t.find_ancestor(exp.Select) or exp.Select())]


def test_the_checker_sees_a_receive_time_wrapped_in_a_function() -> None:
    wrapped = "SELECT 1 FROM `p.d.reports` WHERE COALESCE(receivedAt, TIMESTAMP '2026-01-01') >= TIMESTAMP '2026-11-01'"
    either = "SELECT 1 FROM `p.d.reports` WHERE receivedAt >= TIMESTAMP '2026-11-01' OR TRUE"
    direct = "SELECT 1 FROM `p.d.reports` WHERE x = 1 AND receivedAt >= CAST('2026-11-01' AS TIMESTAMP)"

    assert unpruned_reads(wrapped, "reports")
    assert unpruned_reads(either, "reports")
    assert not unpruned_reads(direct, "reports")


def _table(fleet: Fleet, bq_client: bigquery.Client, bq_dataset: str) -> str:
    table_id = f"{bq_dataset}.reports_{uuid.uuid4().hex[:6]}"
    load_bigquery(bq_client, table_id, fleet.rows)
    return table_id


def test_each_view_reads_only_its_window_with_a_bytes_bound_and_is_served_again_within_the_refresh(
    fleet: Fleet, bq_client: bigquery.Client, bq_dataset: str, bqemu_endpoint: Any, tmp_path: Any
) -> None:
    table_id = _table(fleet, bq_client, bq_dataset)
    args = ("--window=10000h", f"--max-bytes-billed={MAX_BYTES}")
    with (
        recording_proxy(bqemu_endpoint.rest_url) as proxy,
        dashboard(f"bigquery://{table_id}", tmp_path, *args, env={"BIGQUERY_EMULATOR_HOST": proxy.endpoint}) as base,
    ):
        first, second = fetch(base + "/api/adoption"), fetch(base + "/api/adoption")
        metrics = fetch(base + "/metrics").body.decode()

    assert (first.status, second.status) == (200, 200)
    assert first.body == second.body
    assert len(proxy.jobs) == 1  # the default refresh for BigQuery (5m) served the second view
    assert proxy.jobs[0]["maximumBytesBilled"] == str(MAX_BYTES)
    assert unpruned_reads(proxy.jobs[0]["query"], table_id.rsplit(".", 1)[1]) == []
    assert "spartakus_dashboard_bytes_billed_total" in metrics


def test_views_within_one_hour_send_identical_sql(
    fleet: Fleet, bq_client: bigquery.Client, bq_dataset: str, bqemu_endpoint: Any, tmp_path: Any
) -> None:
    table_id = _table(fleet, bq_client, bq_dataset)
    env = {"BIGQUERY_EMULATOR_HOST": ""}
    with recording_proxy(bqemu_endpoint.rest_url) as proxy:
        env["BIGQUERY_EMULATOR_HOST"] = proxy.endpoint
        with dashboard(f"bigquery://{table_id}", tmp_path, "--refresh=0", env=env) as base:
            for _attempt in range(2):
                hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
                answers = [fetch(base + "/api/adoption").status for _ in range(2)]
                if datetime.now(UTC).replace(minute=0, second=0, microsecond=0) == hour:
                    break  # both views fell in one hour (else the window moved on between them: try again)

    queries = proxy.queries()
    assert answers == [200, 200]
    assert len(queries) >= 2  # --refresh=0: every view reads
    assert queries[-1] == queries[-2]
    assert all(job["maximumBytesBilled"] for job in proxy.jobs)
