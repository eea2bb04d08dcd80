"""Taking turns on the embedded DuckDB store file: one writer process and any number of readers.

DuckDB lets a process open a file for writing only while no other process has
it open, and for reading only while no process has it open for writing. The
writer therefore holds its file only while it has work: it lets go once it has
been idle for a moment, and as soon as it has finished a batch while a reader is
waiting. Readers open the file read-only, read, and close it at once.

**The gate** (``<file>.gate``, an ``flock``) is how a reader says it is waiting.
Whoever opens the file holds the gate while it does so, and only then:

- a reader holds it until its read-only open succeeds, so the writer, which
  looks at the gate after every batch, sees the reader and lets go;
- the writer holds it while it opens the file again, so a stream of readers
  cannot keep it out: readers that already have the file finish, new ones wait
  at the gate.

Nobody waits for the gate while holding the file, so the two can never wait for
each other. A process that dies loses its locks with it.

**The writer lock** (``<file>.writer``, an ``flock`` held for the writer's whole
life) keeps a second writer process off the file, as DuckDB's own lock did when
the writer held the file all the time.

This module uses only the standard library and tenacity; ``runtime.duckdb_file``
opens the file through the gate for every side.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Final, TypeVar

from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

T = TypeVar("T")

GATE_SUFFIX: Final = ".gate"
WRITER_SUFFIX: Final = ".writer"
FILE_MODE: Final = 0o600
"""The store file, its write-ahead log and its lock files are the writer's own: they hold every cluster id, and
whoever may open a lock file may hold it and stop the writer. Readers (the dashboard, ``spartakus reports``)
run as the same user."""
POLL_SECONDS: Final = 0.005
"""How often a waiting side tries again; a batch or a read takes tens of milliseconds."""


class StoreBusyError(Exception):
    """The store file (or its gate) stayed taken for longer than the caller's timeout."""


class WriterRunningError(Exception):
    """Another process already writes to this store file."""


def _lock_file(path: str, *, create: bool) -> int | None:
    """A descriptor of the lock file ``path``, created if ``create``; None if it can be neither made nor read.

    Readers never create it: the writer does at start, and a reader in a directory it may not write to
    still takes part.
    """
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY) if create else (os.O_RDONLY,):
        try:
            fd = os.open(path, flags | os.O_CLOEXEC, FILE_MODE)
        except OSError:
            continue
        if flags & os.O_CREAT:
            _restrict(fd)
        return fd
    return None


def _restrict(fd: int) -> None:
    """Make a lock file the writer's only, also one an older version created readable by all."""
    try:
        os.fchmod(fd, FILE_MODE)
    except PermissionError:  # someone else's file: leave it as its owner made it
        return


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def poll(attempt: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """Call ``attempt`` every few milliseconds until it returns something, for at most ``timeout`` seconds.

    Raises:
        StoreBusyError: ``attempt`` still returned None after ``timeout``; ``what`` names what was awaited.
    """
    retrying = Retrying(
        retry=retry_if_result(lambda result: result is None),
        wait=wait_fixed(POLL_SECONDS),
        stop=stop_after_delay(timeout),
    )
    try:
        result = retrying(attempt)
    except RetryError as e:
        raise StoreBusyError(f"{what} stayed taken for {timeout:g}s") from e
    if result is None:  # tenacity returns the last result only on success; kept for the type checker
        raise StoreBusyError(f"{what} stayed taken for {timeout:g}s")
    return result


@contextmanager
def gate(store: str, *, timeout: float, create: bool) -> Iterator[None]:
    """Hold the gate of the store file ``store`` while the caller opens the file.

    The writer ``create``s the gate file; without one (no writer ever used this file) a reader holds nothing.

    Raises:
        StoreBusyError: another process held the gate for ``timeout`` seconds.
    """
    fd = _lock_file(store + GATE_SUFFIX, create=create)
    if fd is None:
        yield
        return
    try:
        poll(lambda: True if _try_lock(fd) else None, timeout=timeout, what=f"the gate of {store}")
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def reader_waiting(store: str) -> bool:
    """Whether a reader holds the gate of ``store`` now, i.e. waits to open the file."""
    fd = _lock_file(store + GATE_SUFFIX, create=False)
    if fd is None:
        return False
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)


def protect_store(store: str) -> None:
    """Make the store file and its write-ahead log (``<file>.wal``) its owner's only (``FILE_MODE``)."""
    for name in (store, store + ".wal"):
        try:
            os.chmod(name, FILE_MODE)
        except FileNotFoundError:
            continue
        except PermissionError:  # someone else's file: leave it as its owner made it
            continue


class WriterLock:
    """Held by the one writer process of a store file for as long as it writes to it."""

    def __init__(self, store: str) -> None:
        """Take the writer lock of ``store``.

        Raises:
            WriterRunningError: another process holds it.
            OSError: the lock file cannot be created next to the store.
        """
        self.path = store + WRITER_SUFFIX
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        _restrict(self._fd)
        if not _try_lock(self._fd):
            os.close(self._fd)
            self._fd = None
            raise WriterRunningError(f"{store} has a writer already (it holds {self.path})")
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        """Let another writer process have the store."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
