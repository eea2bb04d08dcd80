"""The adoption figures: known answers from a synthetic fleet, the same JSON from DuckDB and BigQuery."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from google.cloud import bigquery

from dashboard.adoption import adoption, iso_week
from dashboard.bigquery_store import BigQueryStore
from dashboard.duckdb_store import DuckDbStore
from dashboard.store import StoreError
from tests.support.fleet import Fleet
from tests.support.fleet_stores import load_bigquery


def test_the_figures_of_a_synthetic_fleet_are_the_ones_chosen_for_it(fleet: Fleet, fleet_db: Path) -> None:
    document = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)

    expected = fleet.expected()
    assert document == expected
    # The fleet exercises what it claims to: clusters left out by the window, big clusters, a split report.
    assert 200 <= document["clusters"] < len({r["clusterID"] for r in fleet.rows})
    assert {"1001-5000", ">5000", "0"} <= {b["key"] for b in document["cluster_sizes"] if b["clusters"]}
    assert sum(1 for r in fleet.rows if r.get("reportID") == fleet.split_report_id) == 4


def test_each_list_is_sorted_by_clusters_then_key(fleet: Fleet, fleet_db: Path) -> None:
    document = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)

    for name in ("by_provider", "by_os_image", "by_architecture", "by_container_runtime", "by_kubelet_version"):
        items = document[name]
        assert items == sorted(items, key=lambda i: (-i["clusters"], i["key"])), name
    assert document["by_version"] == sorted(document["by_version"], key=lambda i: (-i["clusters"], i["version"]))
    weekly = document["weekly"]
    assert weekly == sorted(weekly, key=lambda i: (-i["clusters"], i["week"], i["version"]))


def test_a_shorter_window_counts_fewer_clusters(fleet: Fleet, fleet_db: Path) -> None:
    week = adoption(DuckDbStore(str(fleet_db)), window=timedelta(days=7), now=fleet.now, min_clusters=1)
    month = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)

    assert 0 < week["clusters"] < month["clusters"]
    assert week["window_hours"] == 168
    assert {w["week"] for w in week["weekly"]} <= {iso_week_of(fleet.now - timedelta(days=d)) for d in range(8)}


def iso_week_of(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def test_iso_weeks_are_counted_from_a_monday() -> None:
    assert iso_week(0) == "1970-W02"
    # 2026-11-23 is the Monday of ISO week 48 of 2026; 2021-01-03 is a Sunday still in 2020-W53.
    assert iso_week((datetime(2026, 11, 23, tzinfo=UTC) - datetime(1970, 1, 5, tzinfo=UTC)).days // 7) == "2026-W48"
    assert iso_week((datetime(2021, 1, 3, tzinfo=UTC) - datetime(1970, 1, 5, tzinfo=UTC)).days // 7) == "2020-W53"


def test_a_table_of_the_original_spartakus_counts_reports_by_their_timestamp(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The original table has neither reportID, receivedAt nor part; its rows are dated by their timestamp,
    # and a copy (the third row) is known by its cluster and timestamp.
    path = str(tmp_path / "original.duckdb")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    with duckdb.connect(path) as db:
        db.execute(
            "CREATE TABLE reports (version VARCHAR NOT NULL, timestamp VARCHAR NOT NULL, clusterID VARCHAR NOT NULL, "
            "masterVersion VARCHAR, nodes STRUCT(id VARCHAR, operatingSystem VARCHAR, osImage VARCHAR, "
            "kernelVersion VARCHAR, architecture VARCHAR, containerRuntimeVersion VARCHAR, kubeletVersion VARCHAR, "
            "cloudProvider VARCHAR, capacity STRUCT(resource VARCHAR, value VARCHAR)[])[])"
        )
        rows = [
            ("a", now - timedelta(days=2), "v1.30.1", [{"id": "n1", "cloudProvider": "aws"}]),
            ("a", now - timedelta(days=1), "v1.31.0", [{"id": f"n{i}", "cloudProvider": "aws"} for i in (1, 2)]),
            ("a", now - timedelta(days=1), "v1.31.0", [{"id": f"n{i}", "cloudProvider": "aws"} for i in (1, 2)]),
            ("b", now - timedelta(days=40), "v1.29.0", []),
        ]
        for cluster, sent, master, wire_nodes in rows:
            nodes = [{"id": n["id"], "cloudProvider": n["cloudProvider"], "osImage": "COS"} for n in wire_nodes]
            db.execute(
                "INSERT INTO reports (version, timestamp, clusterID, masterVersion, nodes) "
                "VALUES ('v1.0.0', ?, ?, ?, ?)",
                [str(int(sent.timestamp())), cluster, master, nodes],
            )

    with caplog.at_level(logging.WARNING, logger="dashboard"):
        document = adoption(DuckDbStore(path), window=timedelta(days=30), now=now, min_clusters=1)
        adoption(DuckDbStore(path), window=timedelta(days=30), now=now, min_clusters=1)

    assert (document["clusters"], document["nodes"]) == (1, 2)
    # One line, once: such a table is read whole on every view.
    assert [r.getMessage() for r in caplog.records if "receivedAt" in r.getMessage()] == [
        "the table has no receivedAt column: every view reads all of it (a writer adds the column)"
    ]
    assert document["by_version"] == [{"version": "1.31", "clusters": 1, "nodes": 2}]
    assert document["by_provider"] == [{"key": "aws", "clusters": 1, "nodes": 2}]
    assert document["by_kubelet_version"] == [{"key": "unknown", "clusters": 1, "nodes": 2}]


def test_a_missing_file_is_a_store_error_and_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "absent.duckdb"

    with pytest.raises(StoreError, match="does not exist"):
        adoption(DuckDbStore(str(path)), window=timedelta(days=30))
    assert list(tmp_path.iterdir()) == []


def test_a_file_without_the_reports_table_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    duckdb.connect(str(path)).close()

    with pytest.raises(StoreError, match="no table 'reports'"):
        adoption(DuckDbStore(str(path)), window=timedelta(days=30))


@pytest.mark.integration
def test_bigquery_and_duckdb_give_identical_json_for_the_same_fleet(
    fleet: Fleet, fleet_db: Path, bq_client: bigquery.Client, bq_dataset: str, bqemu_endpoint: Any
) -> None:
    table_id = f"{bq_dataset}.reports_{uuid.uuid4().hex[:6]}"
    load_bigquery(bq_client, table_id, fleet.rows)
    store = BigQueryStore(table_id, emulator_host=bqemu_endpoint.rest_url)

    from_bigquery = adoption(store, window=fleet.window, now=fleet.now, min_clusters=1)
    from_duckdb = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)

    assert json.dumps(from_bigquery, sort_keys=True) == json.dumps(from_duckdb, sort_keys=True)
    assert from_bigquery == fleet.expected()


@pytest.mark.integration
def test_a_missing_bigquery_table_is_a_store_error(bq_dataset: str, bqemu_endpoint: Any) -> None:
    store = BigQueryStore(f"{bq_dataset}.absent", emulator_host=bqemu_endpoint.rest_url)

    with pytest.raises(StoreError, match="absent"):
        adoption(store, window=timedelta(days=30))
