"""Opening the DuckDB store file through the gate, and what DuckDB's failures mean, in the one module that knows."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from runtime.duckdb_file import DuckDbFile, DuckDbFileError, DuckDbFileMissingError, DuckDbStatementError
from runtime.storelock import GATE_SUFFIX, StoreBusyError

HOLD = """
import sys, time
import duckdb
db = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
db.close()
"""


@contextmanager
def _held(path: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds ``path`` open for writing for ``seconds``, from the moment this enters."""
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "holding"
            yield holder
        finally:
            holder.kill()


def test_the_writer_creates_the_file_and_its_gate_and_reads_back_what_it_wrote(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"

    file = DuckDbFile.open(str(path), read_only=False, timeout=5, create=True)
    file.execute("CREATE TABLE t (id INTEGER, name VARCHAR)")
    file.execute("INSERT INTO t VALUES (?, ?), (?, ?)", [1, "one", 2, None])
    file.close()
    reader = DuckDbFile.open(str(path), read_only=True, timeout=5)
    try:
        records = reader.records("SELECT * FROM t ORDER BY id")
    finally:
        reader.close()

    assert records == [{"id": 1, "name": "one"}, {"id": 2, "name": None}]
    assert (tmp_path / f"s.duckdb{GATE_SUFFIX}").exists()


@pytest.mark.parametrize("read_only", [True, False])
def test_a_missing_file_is_not_created_unless_asked_for(tmp_path: Path, read_only: bool) -> None:
    with pytest.raises(DuckDbFileMissingError, match="does not exist"):
        DuckDbFile.open(str(tmp_path / "absent.duckdb"), read_only=read_only, timeout=5)

    assert list(tmp_path.iterdir()) == []


def test_a_reader_waits_while_another_process_holds_the_file_then_opens_it(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    DuckDbFile.open(str(path), read_only=False, timeout=5, create=True).close()
    with _held(path, 1.0):
        started = time.monotonic()
        reader = DuckDbFile.open(str(path), read_only=True, timeout=60)
        waited = time.monotonic() - started
        reader.close()

    assert waited > 0.5  # it got in once the holder let go, not before


def test_a_file_held_past_the_timeout_is_busy(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    DuckDbFile.open(str(path), read_only=False, timeout=5, create=True).close()
    with _held(path, 60), pytest.raises(StoreBusyError, match="stayed taken"):
        DuckDbFile.open(str(path), read_only=True, timeout=0.3)


def test_a_file_that_is_not_a_database_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"not a database, " * 1000)

    with pytest.raises(DuckDbFileError) as raised:
        DuckDbFile.open(str(path), read_only=True, timeout=5)

    assert not isinstance(raised.value, DuckDbFileMissingError)


def test_a_failed_statement_says_whether_its_data_was_refused(tmp_path: Path) -> None:
    file = DuckDbFile.open(str(tmp_path / "s.duckdb"), read_only=False, timeout=5, create=True)
    try:
        file.execute("CREATE TABLE t (id INTEGER NOT NULL)")
        with pytest.raises(DuckDbStatementError) as constraint:
            file.execute("INSERT INTO t VALUES (NULL)")
        with pytest.raises(DuckDbStatementError) as conversion:
            file.execute("INSERT INTO t VALUES (?)", ["eleven"])
        with pytest.raises(DuckDbStatementError) as missing:
            file.records("SELECT * FROM absent")
    finally:
        file.close()

    assert (constraint.value.refused, conversion.value.refused, missing.value.refused) == (True, True, False)
    assert not any(e.value.short_of_memory or e.value.committed for e in (constraint, conversion, missing))
    assert "absent" in str(missing.value)
