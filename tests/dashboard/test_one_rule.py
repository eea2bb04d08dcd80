"""One rule for a cluster's figures: ``spartakus reports``, the dashboard and the dedup views agree.

Unsigned clusters are open to conflicting reports: a forgery with the same
timestamp (with the same derived report id, or its own), an old report sent
again later, a report that copies another cluster's ``reportID``, and a
timestamp far in the future. Every reader must show only figures that some
report really carried, and all of them the same ones.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import duckdb
import pytest
from google.cloud import bigquery

from dashboard.adoption import adoption
from dashboard.bigquery_store import BigQueryStore
from dashboard.duckdb_store import DuckDbStore
from schema.figures import latest_reports_sql
from tests.support.fleet import Fleet
from tests.support.fleet_stores import load_bigquery, load_duckdb
from writer.bigquery_sink import dedup_view_sql
from writer.duckdb_sink import DEDUP_VIEW, latest_reports

NOW: Final = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW: Final = timedelta(hours=720)


def _report(
    cluster: str, sent: datetime, master: str, nodes: int, *, received: datetime, **extra: Any
) -> dict[str, Any]:
    timestamp = str(int(sent.timestamp()))
    return {
        "version": "v1.1.0",
        "timestamp": timestamp,
        "clusterID": cluster,
        "masterVersion": master,
        "nodes": [{"id": f"{cluster}-{master}-{i}", "cloudProvider": "aws"} for i in range(nodes)],
        "extensions": [],
        "receivedAt": received.isoformat(),
        # Earlier versions derived the id from the cluster and the timestamp alone; rows stored then share it.
        "reportID": f"legacy-{cluster}-{timestamp}",
    } | extra


def conflicts() -> tuple[list[dict[str, Any]], dict[str, tuple[str, int]]]:
    """Rows of conflicting reports for unsigned clusters, and each cluster's real (masterVersion, nodes)."""
    t = NOW - timedelta(days=2)
    later = t + timedelta(minutes=3)
    rows = [
        # Same timestamp, same derived id, different content, sent later: the first received stands.
        _report("same-id", t, "v1.31.1", 3, received=t),
        _report("same-id", t, "v1.9.9", 1000, received=later),
        # Same timestamp, a different (content-derived) id, sent later: the first received stands.
        _report("same-time", t, "v1.30.2", 4, received=t),
        _report("same-time", t, "v1.9.9", 1000, received=later, reportID=uuid.uuid4().hex),
        # An old report (20 days back) sent again, after the latest: it does not replace the latest.
        _report("stale", t, "v1.29.0", 2, received=t),
        _report("stale", t - timedelta(days=20), "v1.9.9", 1000, received=later, reportID=uuid.uuid4().hex),
        # A timestamp two days ahead of its arrival, beyond the accepted skew: never the latest.
        _report("future", t, "v1.28.3", 5, received=t),
        _report("future", t + timedelta(days=2), "v1.9.9", 1000, received=later, reportID=uuid.uuid4().hex),
    ]
    # A report that copies the id of same-id's real report: it hides nothing of same-id, and counts for its own.
    rows.append(_report("copier", t, "v1.27.1", 1, received=later, reportID=rows[0]["reportID"]))
    real = {"same-id": ("v1.31.1", 3), "same-time": ("v1.30.2", 4), "stale": ("v1.29.0", 2)}
    real |= {"future": ("v1.28.3", 5), "copier": ("v1.27.1", 1)}
    return rows, real


def _picks(reports: Sequence[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    return {r["clusterID"]: (r.get("masterVersion") or "", len(r.get("nodes") or [])) for r in reports}


def _by_version(real: dict[str, tuple[str, int]]) -> list[dict[str, Any]]:
    minors: dict[str, list[int]] = {}
    for master, nodes in real.values():
        figures = minors.setdefault(".".join(master.removeprefix("v").split(".")[:2]), [0, 0])
        figures[0] += 1
        figures[1] += nodes
    items = [{"version": v, "clusters": c, "nodes": n} for v, (c, n) in minors.items()]
    return sorted(items, key=lambda i: (-i["clusters"], i["version"]))


def _duckdb_view_picks(path: Path) -> dict[str, tuple[str, int]]:
    with duckdb.connect(str(path), read_only=True) as db:
        cursor = db.execute(latest_reports_sql(dialect="duckdb", table=DEDUP_VIEW))
        names = [d[0] for d in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return _joined_picks(rows)


def _joined_picks(rows: Sequence[dict[str, Any]]) -> dict[str, tuple[str, int]]:
    picks: dict[str, tuple[str, int]] = {}
    for raw in rows:
        row = {name.lower(): value for name, value in raw.items()}  # the emulator lower-cases `*` columns
        master, nodes = picks.get(row["clusterid"], (row.get("masterversion") or "", 0))
        picks[row["clusterid"]] = (master, nodes + len(row.get("nodes") or []))
    return picks


def test_conflicting_reports_of_unsigned_clusters_give_only_real_figures_in_duckdb(tmp_path: Path) -> None:
    rows, real = conflicts()
    path = tmp_path / "conflicts.duckdb"
    load_duckdb(str(path), rows)

    document = adoption(DuckDbStore(str(path)), window=WINDOW, now=NOW, min_clusters=1)

    assert _picks(latest_reports(str(path))) == real
    assert _duckdb_view_picks(path) == real
    assert document["by_version"] == _by_version(real)
    assert (document["clusters"], document["nodes"]) == (len(real), sum(n for _, n in real.values()))


@pytest.mark.integration
def test_bigquery_reads_the_same_figures_from_the_table_and_from_its_dedup_view(
    bq_client: bigquery.Client, bq_dataset: str, bqemu_endpoint: Any
) -> None:
    rows, real = conflicts()
    table_id = f"{bq_dataset}.reports_{uuid.uuid4().hex[:6]}"
    load_bigquery(bq_client, table_id, rows)
    columns = [f.name for f in bq_client.get_table(table_id).schema]
    view = bigquery.Table(f"{table_id}_dedup")
    view.view_query = dedup_view_sql(table_id, columns)
    bq_client.create_table(view)

    store = BigQueryStore(table_id, emulator_host=bqemu_endpoint.rest_url)
    document = adoption(store, window=WINDOW, now=NOW, min_clusters=1)
    picks = {}
    for source in (f"`{table_id}`", f"`{table_id}_dedup`"):
        result = bq_client.query(latest_reports_sql(dialect="bigquery", table=source, columns=columns)).result()
        picks[source] = _joined_picks([dict(row.items()) for row in result])

    assert list(picks.values()) == [real, real]
    assert document["by_version"] == _by_version(real)
    assert (document["clusters"], document["nodes"]) == (len(real), sum(n for _, n in real.values()))


def test_reports_the_dashboard_and_the_dedup_view_agree_on_the_fleet(fleet: Fleet, fleet_db: Path) -> None:
    # spartakus reports has no window: it shows clusters that reported before it too, with their latest report;
    # where the window holds a cluster's newest report, both show that one.
    listed = _picks(latest_reports(str(fleet_db)))
    chosen = {cluster: (sent.master_version or "", len(sent.nodes)) for cluster, sent in fleet.latest.items()}
    newest = {c for c, sent in fleet.latest.items() if sent.sent >= fleet.now - fleet.window}
    document = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)

    assert len(newest) > 250
    assert {cluster: listed[cluster] for cluster in newest} == {cluster: chosen[cluster] for cluster in newest}
    assert _duckdb_view_picks(fleet_db) == listed
    assert (document["clusters"], document["nodes"]) == (len(chosen), sum(n for _, n in chosen.values()))
