"""The dashboard answers while a writer process inserts into the same DuckDB file, and the writer loses nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from tests.support.dashboard_process import Answer, dashboard, fetch
from tests.support.pipeline import Pipeline
from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report

pytestmark = pytest.mark.integration

REPORTS = 3000
CHUNK = 100


def test_the_dashboard_answers_while_the_writer_inserts_and_every_report_lands(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    path = tmp_path / "spartakus.duckdb"
    database = f"duckdb:///{path}"
    pipeline = Pipeline(amqp_url, queue_name, tmp_path)
    reports = [sample_report(i, nodes=2) for i in range(REPORTS)]
    answers: list[Answer] = []
    published = threading.Event()
    try:
        # Small, quick batches: the writer holds the file often, as it does under a steady trickle of reports.
        pipeline.writer("writer", database, "--batch-size=50", "--batch-max-wait=20ms")
        wait_until(path.exists, timeout=30, what="the writer to create its file")

        def send() -> None:
            for start in range(0, REPORTS, CHUNK):
                publish(amqp_url, queue_name, report_messages(reports[start : start + CHUNK]))
            published.set()

        sender = threading.Thread(target=send, name="publisher")
        with dashboard(database, tmp_path) as base:
            sender.start()
            while not published.is_set() or len(answers) < 5:
                answers.append(fetch(base + "/api/adoption"))
            sender.join()

            def all_counted() -> bool:
                answers.append(fetch(base + "/api/adoption"))
                return answers[-1].status == 200 and answers[-1].json()["clusters"] == REPORTS

            wait_until(all_counted, timeout=120, interval=0.2, what=f"the dashboard to count {REPORTS} clusters")
        assert pipeline.processes["writer"].stop() == 0, pipeline.log_tails()
    finally:
        pipeline.stop_all()

    assert [a.status for a in answers] == [200] * len(answers)
    counts = [a.json()["clusters"] for a in answers]
    assert counts == sorted(counts), "the count went back"
    assert any(0 < c < REPORTS for c in counts), f"no answer came while the writer was inserting: {counts}"
    with duckdb.connect(str(path), read_only=True) as db:
        stored = db.execute("SELECT count(*), count(DISTINCT reportID) FROM reports").fetchone()
    assert stored is not None
    # Every report is stored; at-least-once delivery may add a copy, which the dedup rules remove.
    assert stored[1] == REPORTS
    assert stored[0] >= REPORTS
    assert queue_counts(amqp_url, queue_name)[0] == 0
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
