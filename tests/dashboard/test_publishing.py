"""Safe to publish: rare keys fold into ``other``, lists are capped, and the document stays small whatever was sent."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import duckdb

from dashboard.adoption import TOP_KEYS, adoption
from dashboard.duckdb_store import DuckDbStore
from dashboard.query import LABEL_MAX
from tests.support.fleet import Fleet, make_fleet
from tests.support.fleet_stores import load_duckdb

NOW: Final = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW: Final = timedelta(hours=720)
LISTS: Final = ("by_provider", "by_os_image", "by_architecture", "by_container_runtime", "by_kubelet_version")


def _row(cluster: str, *, os_image: str = "Ubuntu", master: str = "v1.31.1", **extra: Any) -> dict[str, Any]:
    sent = NOW - timedelta(days=1)
    return {
        "version": "v1.1.0",
        "timestamp": str(int(sent.timestamp())),
        "clusterID": cluster,
        "masterVersion": master,
        "nodes": [{"id": f"{cluster}-0", "cloudProvider": "aws", "osImage": os_image, "kubeletVersion": master}],
        "extensions": [],
        "receivedAt": sent.isoformat(),
    } | extra


def test_the_fleet_with_min_clusters_folds_rare_keys_into_other(fleet: Fleet, fleet_db: Path) -> None:
    document = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=5)

    assert document == fleet.expected(min_clusters=5)
    # The fleet's one cluster of 5,001 nodes (and its one of 1,500) is shown only as "other".
    sizes = {item["key"]: item["clusters"] for item in document["cluster_sizes"]}
    assert sizes[">5000"] == sizes["1001-5000"] == 0
    assert sizes["other"] >= 2


def test_a_value_only_one_cluster_has_is_shown_as_other(tmp_path: Path) -> None:
    path = tmp_path / "rare.duckdb"
    rows = [_row(f"common-{i}") for i in range(5)] + [_row("rare", os_image="Hand-rolled OS 0.1", master="v1.7.0")]
    load_duckdb(str(path), rows)

    document = adoption(DuckDbStore(str(path)), window=WINDOW, now=NOW, min_clusters=5)

    assert document["by_os_image"] == [
        {"key": "Ubuntu", "clusters": 5, "nodes": 5},
        {"key": "other", "clusters": 1, "nodes": 1},
    ]
    assert [v["version"] for v in document["by_version"]] == ["1.31", "other"]
    assert "Hand-rolled" not in json.dumps(document)
    assert "1.7" not in {w["version"] for w in document["weekly"]}


def test_the_document_stays_under_a_megabyte_whatever_was_sent(tmp_path: Path) -> None:
    rng = random.Random(20)  # noqa: S311  # reproducible junk, not a secret
    huge = [_row(f"huge-{i}", os_image=f"{i}" + "x" * 2**20) for i in range(60)]
    junk = [
        _row(f"junk-{i}", os_image=f"image-{rng.getrandbits(64):x}", master=f"v1.{rng.getrandbits(40)}.0")
        for i in range(3_000)
    ]
    path = tmp_path / "flood.duckdb"
    load_duckdb(str(path), huge + junk)

    # min_clusters=1 is the worst case: nothing folds for rarity, only the caps hold.
    document = adoption(DuckDbStore(str(path)), window=WINDOW, now=NOW, min_clusters=1)

    size = len(json.dumps(document, separators=(",", ":")).encode())
    assert size < 1_000_000, size
    assert document["clusters"] == 3_060
    for name in (*LISTS, "by_version"):
        assert len(document[name]) <= TOP_KEYS + 1, name
        labels = [item.get("key", item.get("version")) for item in document[name]]
        assert all(len(label) <= LABEL_MAX for label in labels), name
    assert sum(item["clusters"] for item in document["by_version"]) == 3_060


def _add_verified(path: Path, verified: dict[str, bool]) -> None:
    with duckdb.connect(str(path)) as db:
        db.execute("ALTER TABLE reports ADD COLUMN IF NOT EXISTS verified BOOLEAN")
        for cluster, value in verified.items():
            db.execute(
                "UPDATE reports SET verified = ? WHERE clusterID = ? AND masterVersion = 'v1.31.1'", [value, cluster]
            )


def test_verified_and_unverified_clusters_are_counted_and_verified_only_counts_the_signed(tmp_path: Path) -> None:
    path = tmp_path / "signed.duckdb"
    forged = _row("signed-0", master="v1.9.9", timestamp=str(int(NOW.timestamp()) - 60), receivedAt=NOW.isoformat())
    load_duckdb(str(path), [_row(f"signed-{i}") for i in range(6)] + [_row(f"plain-{i}") for i in range(2)] + [forged])
    _add_verified(path, {f"signed-{i}": True for i in range(6)} | {f"plain-{i}": False for i in range(2)})

    every = adoption(DuckDbStore(str(path)), window=WINDOW, now=NOW, min_clusters=1)
    signed = adoption(DuckDbStore(str(path)), window=WINDOW, now=NOW, min_clusters=1, verified_only=True)

    # The later unsigned report wins for signed-0 when everything counts; with --verified-only it is ignored.
    assert (every["verified"]["clusters"], every["unverified"]["clusters"]) == (5, 3)
    assert (signed["verified"]["clusters"], signed["unverified"]["clusters"], signed["clusters"]) == (6, 0, 6)
    assert signed["by_version"] == [{"version": "1.31", "clusters": 6, "nodes": 6}]
    assert signed["verified_only"] is True


def test_a_table_without_the_verified_column_counts_every_report_as_unverified(fleet: Fleet, fleet_db: Path) -> None:
    every = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)
    signed = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, verified_only=True)

    assert every["unverified"]["clusters"] == every["clusters"] > 0
    assert signed["clusters"] == 0


def test_older_history_does_not_change_the_answer_for_a_window(fleet: Fleet, fleet_db: Path, tmp_path: Path) -> None:
    # The same fleet, plus a year of reports from before the window.
    old = make_fleet(400, seed=99)
    shift = timedelta(days=400)
    history = [
        row
        | {"receivedAt": (datetime.fromisoformat(row["receivedAt"]) - shift).isoformat()}
        | {"timestamp": str(int(row["timestamp"]) - int(shift.total_seconds()))}
        for row in old.rows
        if "part" not in row
    ]
    path = tmp_path / "history.duckdb"
    load_duckdb(str(path), history + fleet.rows)

    with_history = adoption(DuckDbStore(str(path)), window=fleet.window, now=fleet.now, min_clusters=1)
    without = adoption(DuckDbStore(str(fleet_db)), window=fleet.window, now=fleet.now, min_clusters=1)

    assert with_history == without
