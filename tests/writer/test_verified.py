"""The ``verified`` column from the gateway's message to every store: DuckDB, BigQuery (insertAll) and stdout."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ingest.validation import accept_report
from schema.signature import ClusterKey
from tests.writer.conftest import BigQueryTarget
from writer.duckdb_sink import DuckDbSink
from writer.rows import Row, decode_report
from writer.stdout_sink import StdoutSink

KEY = ClusterKey("a-kube-system-uid")


def gateway_rows() -> list[Row]:
    """A signed and an unsigned report, as the gateway publishes them, read by the writer."""
    now, stamp = datetime.now(UTC), str(int(time.time()) - 60)
    signed = json.dumps({"clusterID": KEY.cluster_id, "timestamp": stamp, "nodes": [{"id": "n"}]}).encode()
    unsigned = json.dumps({"clusterID": "plain-id", "timestamp": stamp}).encode()
    messages = [
        accept_report(signed, received_at=now, signature=KEY.header(signed).encode()).envelope,
        accept_report(unsigned, received_at=now).envelope,
    ]
    return [
        decode_report(m.body, received_at_header=m.received_at, content_encoding=m.content_encoding) for m in messages
    ]


EXPECTED = {(KEY.cluster_id, True), ("plain-id", False)}


def test_duckdb_stores_verified_as_a_boolean(tmp_path: Path) -> None:
    path = str(tmp_path / "reports.duckdb")
    sink = DuckDbSink(path)
    assert not sink.write(gateway_rows()).rejected
    sink.close()

    with duckdb.connect(path, read_only=True) as db:
        stored = set(db.execute('SELECT "clusterID", "verified" FROM reports_dedup').fetchall())
        kind = db.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'reports' AND column_name = 'verified'"
        ).fetchone()
    assert stored == EXPECTED
    assert kind == ("BOOLEAN",)


@pytest.mark.integration
def test_bigquery_stores_verified_as_a_boolean(bq_target: BigQueryTarget) -> None:
    sink = bq_target.sink()
    try:
        assert not sink.write(gateway_rows()).rejected
    finally:
        sink.close()

    rows = bq_target.client.query(f"SELECT clusterID, verified FROM `{bq_target.table_id}_dedup`").result()  # noqa: S608  # the test's own table
    assert {(row[0], row[1]) for row in rows} == EXPECTED


def test_stdout_prints_verified_with_each_row() -> None:
    stream = io.BytesIO()
    assert not StdoutSink(stream).write(gateway_rows()).rejected

    printed = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {(row["clusterID"], row["verified"]) for row in printed} == EXPECTED
