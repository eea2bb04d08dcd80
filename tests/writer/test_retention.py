"""Retention and ``spartakus forget`` on both stores; the DuckDB files are the writer's only."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.support.services import wait_until
from tests.support.writer_load import sample_report
from tests.writer.conftest import BigQueryTarget
from writer import duckdb_sink
from writer.bigquery_sink import BigQuerySink
from writer.duckdb_sink import DuckDbSink
from writer.forget import main as forget_main
from writer.rows import Row, decode_report

DAY_MS = 24 * 3600 * 1000


def received(index: int, cluster_id: str, days_ago: float) -> Row:
    report = sample_report(index, cluster_id=cluster_id)
    report["receivedAt"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    return decode_report(json.dumps(report).encode())


def clusters_in(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as db:
        return dict(db.execute('SELECT "clusterID", count(*) FROM reports GROUP BY ALL').fetchall())


def test_duckdb_retention_deletes_rows_received_before_it_in_small_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(duckdb_sink, "EXPIRE_STEP_ROWS", 3)
    path = tmp_path / "reports.duckdb"
    sink = DuckDbSink(str(path), retention=timedelta(days=30), maintain_every=3600)
    sink.write([received(i, "old", days_ago=40) for i in range(10)])
    sink.write([received(i, "recent", days_ago=1) for i in range(10, 15)])

    assert sink.maintain() == 10  # four steps of at most three rows
    assert sink.maintain() == 0
    sink.close()

    assert clusters_in(path) == {"recent": 5}


def test_the_idle_duckdb_writer_applies_the_retention_by_itself(tmp_path: Path) -> None:
    path = tmp_path / "reports.duckdb"
    sink = DuckDbSink(str(path), retention=timedelta(hours=1), maintain_every=0.05)
    sink.write([received(i, "old", days_ago=2) for i in range(4)] + [received(9, "recent", days_ago=0)])

    def only_recent() -> bool:
        return sink.fetchall('SELECT DISTINCT "clusterID" FROM reports') == [("recent",)]

    wait_until(only_recent, timeout=30, what="the old rows expired")
    sink.close()


def test_without_a_retention_duckdb_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "reports.duckdb"
    sink = DuckDbSink(str(path))
    sink.write([received(1, "ancient", days_ago=4000)])
    assert sink.maintain() == 0
    sink.close()
    assert clusters_in(path) == {"ancient": 1}


def test_forget_deletes_one_clusters_reports_from_duckdb_while_a_writer_holds_the_file(tmp_path: Path) -> None:
    path = tmp_path / "reports.duckdb"
    sink = DuckDbSink(str(path))  # a running writer: it lets go of the file for the command
    sink.write([received(i, "leaving", days_ago=1) for i in range(3)] + [received(5, "staying", days_ago=1)])

    command = [sys.executable, "-m", "spartakus", "forget", "--cluster-id=leaving", f"--database=duckdb:///{path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)

    assert result.returncode == 0, result.stderr
    assert "deleted 3 rows" in result.stderr
    sink.write([received(6, "staying", days_ago=0)])
    sink.close()
    assert clusters_in(path) == {"staying": 2}


def test_forget_on_a_missing_duckdb_file_fails_clearly_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "absent.duckdb"
    assert forget_main(["--cluster-id", "x", "--database", f"duckdb:///{path}"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_forget_needs_a_cluster_id(capsys: pytest.CaptureFixture[str]) -> None:
    assert forget_main(["--database", "duckdb:///x.duckdb"]) == 2
    assert "cluster-id" in capsys.readouterr().err


def test_the_duckdb_file_and_its_lock_files_are_the_writers_only(tmp_path: Path) -> None:
    path = tmp_path / "reports.duckdb"
    # A file an older version left readable by everyone is restricted too.
    for name in (f"{path}.gate", f"{path}.writer"):
        Path(name).touch(mode=0o644)
    sink = DuckDbSink(str(path))
    sink.write([received(1, "c", days_ago=0)])
    sink.fetchall("SELECT 1")  # the file is open: its write-ahead log exists now
    modes = {name: stat.S_IMODE(os.stat(name).st_mode) for name in (str(path), f"{path}.gate", f"{path}.writer")}
    sink.close()
    assert modes == dict.fromkeys(modes, 0o600)


@pytest.mark.integration
def test_bigquery_retention_is_the_partition_expiration_at_creation_and_on_an_existing_table(
    bq_target: BigQueryTarget, caplog: pytest.LogCaptureFixture
) -> None:
    client = bq_target.client
    table_id = f"{client.project}.ret_{uuid.uuid4().hex[:8]}.reports"
    try:
        created = BigQuerySink(table_id, client=client, retention=timedelta(days=30))
        created.ensure_table()
        assert client.get_table(table_id).time_partitioning.expiration_ms == 30 * DAY_MS

        with caplog.at_level(logging.INFO, logger="writer.retention"):
            BigQuerySink(table_id, client=client, retention=timedelta(days=400)).ensure_table()
        assert client.get_table(table_id).time_partitioning.expiration_ms == 400 * DAY_MS
        changes = [r for r in caplog.records if "partition expiration" in r.getMessage()]
        assert [(r.__dict__["from_ms"], r.__dict__["to_ms"]) for r in changes] == [(30 * DAY_MS, 400 * DAY_MS)]

        BigQuerySink(table_id, client=client).ensure_table()  # no retention: an existing expiration stays
        assert client.get_table(table_id).time_partitioning.expiration_ms == 400 * DAY_MS
    finally:
        client.delete_dataset(table_id.rsplit(".", 1)[0], delete_contents=True, not_found_ok=True)


@pytest.mark.integration
def test_forget_deletes_one_clusters_reports_from_bigquery(
    bq_target: BigQueryTarget, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    client = bq_target.client
    table_id = f"{client.project}.fgt_{uuid.uuid4().hex[:8]}.reports"
    sink = BigQuerySink(table_id, client=client)
    try:
        sink.write([received(i, "leaving", days_ago=0) for i in range(3)] + [received(7, "staying", days_ago=0)])
        monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_target.endpoint)

        code = forget_main(["--cluster-id", "leaving", "--database", f"bigquery://{table_id}"])

        assert code == 0, capsys.readouterr().err
        assert "deleted 3 rows" in capsys.readouterr().err
        left: Any = bq_target.scalar("COUNT(*)", table_id, "clusterID = 'leaving'")
        assert left == 0
        assert bq_target.scalar("COUNT(*)", table_id, "clusterID = 'staying'") == 1
    finally:
        sink.close()
        client.delete_dataset(table_id.rsplit(".", 1)[0], delete_contents=True, not_found_ok=True)
