"""``spartakus reports``: the latest report of each cluster from the DuckDB store, without SQL."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import unicodedata
from pathlib import Path

from tests.support.big_reports import go_body, go_volunteer_report
from tests.support.writer_load import sample_report, store_two_clusters
from writer.duckdb_sink import DuckDbSink, latest_reports
from writer.reports import CELL_MAX, COLUMNS, render_table
from writer.rows import decode_report


def _store(tmp_path: Path) -> str:
    path = tmp_path / "reports.duckdb"
    store_two_clusters(path)
    return f"duckdb:///{path}"


def _reports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spartakus", "reports", *args], capture_output=True, text=True, check=False, timeout=60
    )


def test_reports_prints_one_row_per_cluster_with_the_newest_report(tmp_path: Path) -> None:
    result = _reports(f"--database={_store(tmp_path)}")

    assert result.returncode == 0, result.stderr
    header, *rows, footer = result.stdout.splitlines()
    assert header.split() == [
        "clusterID",
        "receivedAt",
        "version",
        "masterVersion",
        "nodes",
        "providers",
        "extensions",
        "verified",
    ]
    assert [row.split()[0] for row in rows] == ["cluster-a", "cluster-b"]
    assert rows[0].split()[1].startswith("2030-01-01")
    assert footer == "2 cluster(s)"


def test_reports_json_gives_the_whole_reports(tmp_path: Path) -> None:
    result = _reports(f"--database={_store(tmp_path)}", "--json")

    assert result.returncode == 0, result.stderr
    reports = json.loads(result.stdout)
    assert [r["clusterID"] for r in reports] == ["cluster-a", "cluster-b"]
    assert reports[0]["nodes"][0]["capacity"][0] == {"resource": "cpu", "value": "4"}


def test_reports_counts_every_node_of_a_report_stored_in_parts(tmp_path: Path) -> None:
    path = tmp_path / "reports.duckdb"
    report = go_volunteer_report(2_500)
    report["clusterID"] = "big-cluster"
    split = decode_report(go_body(report), max_row_bytes=300_000)
    assert len(split.payloads) > 2
    sink = DuckDbSink(str(path))
    sink.write([split])
    sink.close()

    result = _reports(f"--database=duckdb:///{path}")

    assert result.returncode == 0, result.stderr
    _header, row, _footer = result.stdout.splitlines()
    assert row.split()[0] == "big-cluster"
    assert row.split()[4] == "2500"


def test_reports_on_a_missing_store_says_so_and_exits_1(tmp_path: Path) -> None:
    result = _reports(f"--database=duckdb:///{tmp_path / 'absent.duckdb'}")

    assert result.returncode == 1
    assert "absent.duckdb" in result.stderr


def test_reports_refuses_a_store_that_is_not_duckdb() -> None:
    result = _reports("--database=bigquery://p.d.t")

    assert result.returncode == 2
    assert "duckdb:///" in result.stderr


def test_reports_reads_the_file_while_a_writer_is_writing_to_it(tmp_path: Path) -> None:
    database = _store(tmp_path)
    writer = DuckDbSink(str(tmp_path / "reports.duckdb"))
    try:
        writer.write([decode_report(json.dumps(sample_report(4, cluster_id="cluster-c")).encode())])
        result = _reports(f"--database={database}", "--json")
        writer.write([decode_report(json.dumps(sample_report(5, cluster_id="cluster-d")).encode())])
    finally:
        writer.close()

    assert result.returncode == 0, result.stderr
    assert [r["clusterID"] for r in json.loads(result.stdout)] == ["cluster-a", "cluster-b", "cluster-c"]
    assert [r["clusterID"] for r in latest_reports(str(tmp_path / "reports.duckdb"))][-1] == "cluster-d"


def test_the_table_shows_control_characters_as_escapes_and_never_pads_to_a_senders_width() -> None:
    hostile = {
        "clusterID": "\x1b[2J\x1b[31mowned\x07",
        "timestamp": "1795779062",
        "version": "v1.1.0\r\n\u202efake",
        "masterVersion": "v1.31.1" + "9" * 10_000,
        "nodes": [{"id": "n", "cloudProvider": "aws\x00\u2028"}],
    }
    out = io.StringIO()

    render_table([hostile], out)

    text = out.getvalue()
    assert not [c for c in text if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"}]
    assert "\\x1b[2J\\x1b[31mowned\\x07" in text
    assert "\\u202efake" in text
    assert "\\x00\\u2028" in text
    assert len(text.splitlines()) == 3  # header, one row, the count
    assert max(len(line) for line in text.splitlines()) <= len(COLUMNS) * (CELL_MAX + 2)
