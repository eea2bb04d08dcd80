"""Taking turns on the DuckDB store file: the gate, and the one-writer lock across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from runtime.storelock import StoreBusyError, WriterLock, WriterRunningError, gate, poll, reader_waiting


def test_a_reader_holding_the_gate_is_seen_waiting_and_the_writer_waits_for_it(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    with gate(store, timeout=1, create=True):
        pass  # the writer made the gate file
    assert not reader_waiting(store)

    with gate(store, timeout=1, create=False):
        waiting = reader_waiting(store)
        with pytest.raises(StoreBusyError, match="gate"), gate(store, timeout=0.05, create=True):
            pass
    assert waiting
    assert not reader_waiting(store)


def test_a_reader_never_creates_the_gate_file(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")

    with gate(store, timeout=1, create=False):
        pass

    assert list(tmp_path.iterdir()) == []
    assert not reader_waiting(store)


def test_the_gate_passes_to_the_next_one_as_soon_as_it_is_let_go(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    entered = threading.Event()

    def second() -> None:
        with gate(store, timeout=10, create=True):
            entered.set()

    with gate(store, timeout=1, create=True):
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.1)
    thread.join(timeout=10)
    assert entered.is_set()


def test_poll_returns_the_first_result_and_gives_up_after_the_timeout() -> None:
    results = iter([None, None, "open"])

    assert poll(lambda: next(results), timeout=5, what="the file") == "open"
    with pytest.raises(StoreBusyError, match="the file stayed taken"):
        poll(lambda: None, timeout=0.05, what="the file")


def test_a_second_writer_process_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    script = f"from runtime.storelock import WriterLock\nWriterLock({store!r})\n"
    lock = WriterLock(store)

    refused = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    lock.release()
    accepted = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)

    assert refused.returncode != 0
    assert "has a writer already" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_the_writer_lock_names_the_holder_and_is_refused_in_the_same_process_too(tmp_path: Path) -> None:
    store = str(tmp_path / "s.duckdb")
    lock = WriterLock(store)
    try:
        with pytest.raises(WriterRunningError):
            WriterLock(store)
        assert Path(lock.path).read_text().strip().isdigit()
    finally:
        lock.release()
