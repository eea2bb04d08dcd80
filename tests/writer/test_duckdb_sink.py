"""The embedded DuckDB sink: the reports table, the dedup view, older files, the single-writer lock."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from tests.support.big_reports import go_body, go_volunteer_report
from tests.support.services import wait_until
from tests.support.writer_load import sample_report, store_two_clusters
from writer.duckdb_sink import DuckDbSink, latest_reports
from writer.errors import SinkConfigError
from writer.rows import Row, decode_report


def rows(count: int, **options: object) -> list[Row]:
    return [decode_report(json.dumps(sample_report(i, **options)).encode()) for i in range(count)]  # type: ignore[arg-type]


def test_rows_land_in_reports_with_nested_data_as_struct_lists(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path)
    batch = rows(3)
    assert not sink.write(batch).rejected
    sink.close()
    with duckdb.connect(path, read_only=True) as db:
        types = dict(
            db.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'reports'"
            ).fetchall()
        )
        count, capacity = db.execute(
            "SELECT count(*), any_value(nodes[1].capacity[2].value) FROM reports"
        ).fetchone() or (0, None)
    assert count == 3
    assert capacity == "16393220Ki"
    assert types["nodes"].startswith("STRUCT(id VARCHAR")
    assert types["nodes"].endswith("[]")
    assert types["receivedAt"] == "TIMESTAMP WITH TIME ZONE"
    assert types["reportID"] == "VARCHAR"


def test_values_with_line_breaks_and_quotes_are_stored_exactly(tmp_path: Path) -> None:
    # The sink sends a batch as JSON lines; a line break inside a value must not split a report.
    value = 'first line\nsecond "quoted" line\r\n\u2028 \u00e9 \\ end'
    report = sample_report(0)
    report["extensions"].append({"name": "example.com/note", "value": value})
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path)
    sink.write([*rows(2), decode_report(json.dumps(report).encode()), *rows(2)])
    sink.close()
    with duckdb.connect(path, read_only=True) as db:
        count = db.execute("SELECT count(*) FROM reports").fetchone()
        stored = db.execute(
            "SELECT extensions[2].value FROM reports WHERE reportID = ?", [report["reportID"]]
        ).fetchone()
    assert count == (5,)
    assert stored == (value,)


def test_the_dedup_view_keeps_one_row_per_report_id(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path)
    batch = rows(4)
    sink.write(batch)
    sink.write(batch[:2])
    sink.close()
    with duckdb.connect(path, read_only=True) as db:
        raw = db.execute("SELECT count(*) FROM reports").fetchone()
        dedup = db.execute("SELECT count(*), count(DISTINCT reportID) FROM reports_dedup").fetchone()
    assert raw == (6,)
    assert dedup == (4, 4)


def test_latest_reports_gives_the_newest_report_of_each_cluster(tmp_path: Path) -> None:
    path = tmp_path / "reports.duckdb"
    new, other = store_two_clusters(path)
    latest = latest_reports(str(path))
    assert [(r["clusterID"], r["reportID"]) for r in latest] == [
        ("cluster-a", new["reportID"]),
        ("cluster-b", other["reportID"]),
    ]
    assert latest[0]["nodes"][0]["capacity"][0] == {"resource": "cpu", "value": "4"}
    assert latest[0]["receivedAt"].startswith("2030-01-01T00:00:00")


def test_a_file_from_an_older_writer_gains_the_newer_columns(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    with duckdb.connect(path) as db:
        db.execute(
            "CREATE TABLE reports (version VARCHAR NOT NULL, timestamp VARCHAR NOT NULL, clusterID VARCHAR NOT NULL)"
        )
        db.execute("INSERT INTO reports VALUES ('v1.0.0', '1700000000', 'old-cluster')")
    sink = DuckDbSink(path)
    sink.write(rows(2))
    sink.close()
    with duckdb.connect(path, read_only=True) as db:
        result = db.execute(
            "SELECT clusterID, reportID IS NULL FROM reports_dedup ORDER BY reportID NULLS FIRST"
        ).fetchall()
    assert result[0] == ("old-cluster", True)
    assert len(result) == 3


def test_a_second_process_on_the_same_file_fails_clearly_and_leaves_it_intact(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path)
    sink.write(rows(5))
    script = f"from writer.duckdb_sink import DuckDbSink\nDuckDbSink({path!r})\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "StoreLockedError" in result.stderr
    assert "open in another process" in result.stderr
    assert "one writer process per file" in result.stderr
    sink.write(rows(5))
    sink.close()
    with duckdb.connect(path, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM reports").fetchone() == (10,)


def test_reading_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(SinkConfigError, match="cannot open"):
        latest_reports(str(tmp_path / "missing.duckdb"))


def test_a_split_report_is_stored_as_its_parts_and_the_dedup_view_keeps_each_part_once(tmp_path: Path) -> None:
    report = go_volunteer_report(3_000)
    split = decode_report(go_body(report), max_row_bytes=400_000)
    assert len(split.payloads) > 2
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path)
    sink.write([split, *rows(2)])
    sink.write([split])  # a redelivery
    sink.close()
    with duckdb.connect(path, read_only=True) as db:
        raw = db.execute("SELECT count(*) FROM reports").fetchone()
        reports = db.execute("SELECT count(*) FROM reports_dedup WHERE coalesce(part, 0) = 0").fetchone()
        nodes = db.execute(
            "SELECT count(*), count(DISTINCT n.id) FROM (SELECT unnest(nodes) AS n FROM reports_dedup) "
            "WHERE n.id IN (SELECT unnest(nodes).id FROM reports WHERE clusterID = ?)",
            [report["clusterID"]],
        ).fetchone()
    assert raw == (2 * len(split.payloads) + 2,)
    assert reports == (3,)
    assert nodes == (3_000, 3_000)
    latest = {r["clusterID"]: r for r in latest_reports(path)}
    assert [n["id"] for n in latest[report["clusterID"]]["nodes"]] == [n["id"] for n in report["nodes"]]
    assert "part" not in latest[report["clusterID"]]


def test_an_idle_writer_lets_go_of_the_file_so_any_reader_can_open_it(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path, release_after_idle=0.05)
    try:
        sink.write(rows(3))

        def readable() -> bool:
            try:
                with duckdb.connect(path, read_only=True) as db:
                    return db.execute("SELECT count(*) FROM reports").fetchone() == (3,)
            except duckdb.Error:
                return False

        wait_until(readable, timeout=10, what="the idle writer to let go of the file")
        sink.write(rows(2))  # and it takes the file back for the next batch
    finally:
        sink.close()
    with duckdb.connect(path, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM reports").fetchone() == (5,)


def test_a_busy_writer_lets_a_waiting_reader_in_between_two_batches_and_loses_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    # Never idle long enough to let go by itself: only a reader at the gate makes it close the file.
    sink = DuckDbSink(path, release_after_idle=3600)
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        while not stop.is_set():
            batch = rows(20)
            sink.write(batch)
            written.append(len(batch))

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        wait_until(lambda: len(written) >= 3, timeout=30, what="the writer to write")
        reader = subprocess.run(
            [sys.executable, "-m", "spartakus", "reports", f"--database=duckdb:///{path}", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        during = len(written)
        wait_until(lambda: len(written) > during, timeout=30, what="the writer to write after the read")
    finally:
        stop.set()
        writer.join(timeout=60)
        sink.close()

    assert reader.returncode == 0, reader.stderr
    assert 3 * 20 <= len(json.loads(reader.stdout)) <= sum(written)
    with duckdb.connect(path, read_only=True) as db:
        assert db.execute("SELECT count(*) FROM reports").fetchone() == (sum(written),)
