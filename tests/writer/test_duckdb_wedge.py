"""The DuckDB writer never wedges: a checkpoint that runs out of memory is recovered from, nothing is lost.

The workload is the one that wedged a writer: reports with large free-text
values (100 KB extension values), many of them, under a small memory limit
(64 MiB here; 256 MB wedged a real writer at a larger size). DuckDB's
checkpoint rewrites the whole row group that received new rows, so the
memory it needs grows with the data in that row group, and past the limit
it fails after the commit, leaving the database unusable until reopened.
"""

from __future__ import annotations

import json
import logging
import random
import string
from pathlib import Path
from typing import Any, Final

import duckdb
import pytest

from tests.support.services import wait_until
from tests.support.writer_load import publish, queue_counts, report_messages, sample_report
from tests.writer.conftest import RunningWriter
from writer.duckdb_memory import DuckDbMemory
from writer.duckdb_sink import DuckDbSink
from writer.rows import decode_report

pytestmark = pytest.mark.integration

MIB: Final = 2**20
LIMIT: Final = 64 * MIB
TEXT_BYTES: Final = 100_000
REPORTS: Final = 1_200
"""About 120 MB of text: DuckDB's checkpoint fails under 64 MiB from about 90 MB on."""


LETTERS: Final = (string.ascii_letters.encode() * 5)[:256]
"""A byte -> letter table: random bytes become random letters (``random.choices`` per letter took a minute)."""


def free_text(rng: random.Random) -> str:
    """TEXT_BYTES random letters."""
    return rng.randbytes(TEXT_BYTES).translate(LETTERS).decode()


def free_text_reports(count: int, *, start: int = 0) -> list[dict[str, Any]]:
    """Reports each with one 100 KB free-text extension value (incompressible, as real notes are not)."""
    rng = random.Random(start)  # noqa: S311  # test data, not a secret
    reports = []
    for i in range(start, start + count):
        report = sample_report(i)
        report["extensions"].append({"name": "example.com/notes", "value": free_text(rng)})
        reports.append(report)
    return reports


def stored(path: Path) -> tuple[int, int]:
    """Rows and distinct report ids in the file."""
    with duckdb.connect(str(path), read_only=True) as db:
        row = db.execute('SELECT count(*), count(DISTINCT "reportID") FROM reports').fetchone()
    assert row is not None
    return row[0], row[1]


def test_the_workload_that_wedged_the_writer_fails_duckdbs_checkpoint_under_the_same_limit(tmp_path: Path) -> None:
    # The failure itself, without the sink: the commit is durable, the checkpoint is not, and the database
    # must be reopened.
    path = str(tmp_path / "plain.duckdb")
    text = free_text(random.Random(1))  # noqa: S311  # as above

    def fill(db: duckdb.DuckDBPyConnection) -> None:
        for batch in range(REPORTS // 40):
            db.execute("INSERT INTO notes SELECT range, ? || range FROM range(?, ? + 40)", [text, batch, batch])

    with duckdb.connect(path, config={"memory_limit": f"{LIMIT}B"}) as db:
        db.execute("CREATE TABLE notes (id INTEGER, value VARCHAR)")
        with pytest.raises(duckdb.Error, match="autocheckpoint failed"):
            fill(db)


def test_a_checkpoint_out_of_memory_is_recovered_and_every_report_is_stored_once(
    amqp_url: str,
    queue_name: str,
    tmp_path: Path,
    start_writer: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "reports.duckdb"
    sink = DuckDbSink(str(path), memory=DuckDbMemory(limit=LIMIT, ceiling=1024 * MIB))
    publish(amqp_url, queue_name, report_messages(free_text_reports(REPORTS)))

    with caplog.at_level(logging.INFO, logger="writer"):
        running: RunningWriter = start_writer(queue_name, sink, batch_size=100, batch_max_wait=0.2)
        wait_until(lambda: running.written() == REPORTS, timeout=600, what="every report written")
        # The writer keeps writing after the recovery.
        publish(amqp_url, queue_name, report_messages([sample_report(i) for i in range(REPORTS, REPORTS + 20)]))
        wait_until(lambda: running.written() == REPORTS + 20, timeout=60, what="the reports that came after")
        running.shutdown()
    sink.close()

    messages = [record.getMessage() for record in caplog.records]
    assert any("could not checkpoint within its memory limit" in m for m in messages), messages
    assert any("checkpointed with more memory" in m for m in messages)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert stored(path) == (REPORTS + 20, REPORTS + 20)  # nothing lost, nothing written twice
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    assert queue_counts(amqp_url, queue_name)[0] == 0


def test_without_memory_to_checkpoint_the_writer_writes_on_and_a_restart_on_its_file_succeeds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "reports.duckdb"
    # No room above the limit: the checkpoint cannot succeed at all.
    memory = DuckDbMemory(limit=LIMIT, ceiling=LIMIT)
    sink = DuckDbSink(str(path), memory=memory)
    with caplog.at_level(logging.INFO, logger="writer"):
        for start in range(0, REPORTS, 100):
            rows = [decode_report(json.dumps(r).encode()) for r in free_text_reports(100, start=start)]
            assert not sink.write(rows).rejected
        sink.close()
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]  # said once, with the fix
        assert "fix" in errors[0].__dict__
        assert "memory" in errors[0].__dict__["fix"]

        # A writer restarted on the file (as after a crash) starts, writes, and checkpoints once it has memory.
        restarted = DuckDbSink(str(path), memory=DuckDbMemory(limit=LIMIT, ceiling=1024 * MIB))
        restarted.write([decode_report(json.dumps(sample_report(REPORTS)).encode())])
        restarted.close()
    assert stored(path) == (REPORTS + 1, REPORTS + 1)
    assert not Path(f"{path}.wal").exists()  # the restarted writer checkpointed it all into the file
