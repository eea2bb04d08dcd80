"""The embedded DuckDB sink: table ``reports`` with the BigQuery columns, nested data as STRUCT lists.

DuckDB lets one process at a time open a file for writing, and no other
process read it meanwhile. So that readers (``spartakus dashboard``,
``spartakus reports``, the DuckDB CLI) can use the file while a writer runs,
the sink holds the file only while it has work (``runtime.storelock``): it
closes it after ``RELEASE_AFTER_IDLE`` seconds without a batch, and right after
a batch when a reader waits at the gate; the next batch opens it again. A
second writer process on the same file still fails at start with
``SinkConfigError``, through the writer lock; it never writes.

A batch is a series of ``INSERT`` statements of the table rows as JSON lines
(``writer.duckdb_sql``), each committed on its own and in the write-ahead log
when it returns. Closing the file checkpoints it.

**Memory** (``writer.duckdb_memory``): a checkpoint rewrites the whole row
group that received new rows, so with large free-text values it can need more
than DuckDB's limit, and then fails after the commit, leaving the database
unusable until reopened. The sink reopens the file with more memory (doubling
up to the ceiling), checkpoints, and goes on with the next statement; past the
ceiling it writes on into the write-ahead log without automatic checkpoints,
says so once at error level, and retries every ``MAINTAIN_EVERY`` seconds. A
statement that runs out of memory itself is split in halves. Retention deletes
rows in steps of ``EXPIRE_STEP_ROWS`` on the same schedule, between batches.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import duckdb

from runtime.storelock import StoreBusyError, WriterLock, WriterRunningError, gate, poll, protect_store, reader_waiting
from schema.bigquery import FieldSchema, load_table_schema
from writer import duckdb_sql as sql
from writer.duckdb_memory import DEFAULT_MEMORY, MEMORY_FIX, DuckDbMemory
from writer.errors import PermanentSinkError, SinkConfigError, StoreLockedError, TransientSinkError
from writer.rows import Row
from writer.sinks import WriteResult

TABLE: Final = sql.TABLE
DEDUP_VIEW: Final = sql.DEDUP_VIEW
RELEASE_AFTER_IDLE: Final = 0.2
"""Seconds without a batch after which the writer closes the file, so that any reader may open it."""
OPEN_TIMEOUT: Final = 10.0
"""Seconds the writer waits for readers to close the file before the batch counts as a transient failure."""
READ_OPEN_TIMEOUT: Final = 30.0
"""Seconds a reader waits for the writer to let go of the file."""
MAINTAIN_EVERY: Final = 60.0
"""Seconds between two rounds of retention (and of checkpoint retries after a checkpoint failed for good)."""
EXPIRE_STEP_ROWS: Final = 2000
"""Rows deleted per statement by retention: a step takes milliseconds, so batches barely wait."""
EXPIRE_STEPS: Final = 100
"""Steps per round at most; the rest waits for the next round."""
_NO_AUTOCHECKPOINT: Final = ("SET checkpoint_threshold = '1000TB'", "PRAGMA disable_checkpoint_on_shutdown")

log = logging.getLogger(__name__)


def _connect(path: str, *, read_only: bool, memory_limit: int | None) -> duckdb.DuckDBPyConnection | None:
    """A connection to ``path``, or None while another process has the file open."""
    # The limit is set at connect, so that replaying a write-ahead log is bounded too.
    config: dict[str, str | bool | int | float | list[str]] = (
        {"memory_limit": f"{memory_limit}B"} if memory_limit else {}
    )
    try:
        return duckdb.connect(path, read_only=read_only, config=config)
    except duckdb.IOException as e:
        if "lock" in str(e).lower():
            return None
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e
    except duckdb.Error as e:
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e


def open_when_free(
    path: str, *, read_only: bool, timeout: float, memory_limit: int | None = None
) -> duckdb.DuckDBPyConnection:
    """Open ``path`` through the gate, waiting up to ``timeout`` for the processes that have it to close it.

    Raises:
        StoreBusyError: the file (or its gate) stayed taken.
        SinkConfigError: the file cannot be opened at all.
    """
    if read_only and not os.path.exists(path):
        raise SinkConfigError(f"cannot open DuckDB file {path}: it does not exist")
    with gate(path, timeout=timeout, create=not read_only):
        return poll(
            lambda: _connect(path, read_only=read_only, memory_limit=memory_limit),
            timeout=timeout,
            what=f"DuckDB file {path}",
        )


def _short_of_memory(error: duckdb.Error) -> bool:
    """Whether ``error`` is a checkpoint or a commit that ran out of memory (either leaves the file as it was)."""
    text = str(error).lower()
    return (
        isinstance(error, duckdb.OutOfMemoryException)
        or "checkpoint" in text
        or "failed to pin block" in text
        or "out of memory" in text
    )


def _committed(error: duckdb.Error) -> bool:
    return "COMMIT succeeded" in str(error)


class DuckDbSink:
    """Writes rows into ``reports`` in one DuckDB file, creating the table and the dedup view."""

    name = "duckdb"

    def __init__(
        self,
        path: str,
        *,
        release_after_idle: float = RELEASE_AFTER_IDLE,
        memory: DuckDbMemory = DEFAULT_MEMORY,
        retention: timedelta | None = None,
        maintain_every: float = MAINTAIN_EVERY,
    ) -> None:
        """Take ``path`` for this writer process, and create or migrate its table.

        ``memory`` bounds DuckDB; ``retention`` (None: keep everything) is how long rows are kept.

        Raises:
            SinkConfigError: another writer has the file, or it cannot be opened or migrated.
        """
        self.path = path
        self._release_after_idle = release_after_idle
        self._memory = memory
        self._retention = retention
        self._lock = threading.Lock()
        """Held while the connection is used, opened or closed: the sink thread and the timers share it."""
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._timer: threading.Timer | None = None
        self._degraded = False
        """A checkpoint failed even with the ceiling: write on into the WAL, without automatic checkpoints."""
        self._closed = threading.Event()
        try:
            self._writer_lock = WriterLock(path)
        except WriterRunningError as e:
            raise StoreLockedError(
                f"DuckDB file {path} is open in another process, and DuckDB allows one writer process per file: "
                f"stop the other process, give each writer its own file, or use BigQuery for several writers ({e})"
            ) from e
        except OSError as e:
            raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e
        columns = load_table_schema()
        try:
            with self._lock:
                self._migrate(columns)
                self._after_work()
        except (SinkConfigError, TransientSinkError, duckdb.Error) as e:
            self.close()
            if isinstance(e, SinkConfigError):
                raise
            raise SinkConfigError(f"cannot prepare table {TABLE} in {path}: {e}") from e
        self._insert_sql = sql.insert_sql(columns)
        self._maintainer = threading.Thread(
            target=self._maintain_loop, args=(maintain_every,), name="spartakus-duckdb-maintenance", daemon=True
        )
        self._maintainer.start()

    def _migrate(self, columns: Sequence[FieldSchema]) -> None:
        self._execute(sql.create_table_sql(columns))
        existing = {row[0] for row in self._execute(f"DESCRIBE {TABLE}")}
        for column in columns:
            # Newer columns are NULLABLE by contract, so an older file gains them with NULLs.
            if column["name"] not in existing and column["mode"] != "REQUIRED":
                self._execute(
                    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {sql.quote(column['name'])} "
                    f"{sql.column_type(column)}"
                )
        self._execute(sql.DEDUP_SQL)

    def _open(self) -> duckdb.DuckDBPyConnection:
        """The open connection, opening the file first if the sink had let go of it (with ``_lock`` held)."""
        if self._connection is None:
            try:
                connection = open_when_free(
                    self.path, read_only=False, timeout=OPEN_TIMEOUT, memory_limit=self._memory.limit
                )
            except StoreBusyError as e:
                raise TransientSinkError(f"DuckDB file {self.path} is busy with readers: {e}") from e
            for statement in _NO_AUTOCHECKPOINT if self._degraded else ():
                connection.execute(statement)
            protect_store(self.path)
            self._connection = connection
        return self._connection

    def _execute(self, statement: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and fetch its rows (``_lock`` held).

        A checkpoint or a commit that runs out of memory leads to recovery (a checkpoint with more memory),
        then the statement runs once more, unless it had committed already (then there are no rows).
        """
        try:
            return self._open().execute(statement, list(parameters)).fetchall()
        except duckdb.Error as e:
            if not _short_of_memory(e):
                raise
            self._recover(e)
            if _committed(e):
                return []
            return self._open().execute(statement, list(parameters)).fetchall()

    def _recover(self, error: duckdb.Error) -> None:
        """Checkpoint the file with more memory after ``error``, or write on without checkpoints (``_lock`` held)."""
        self._drop()
        log.warning(
            "DuckDB could not checkpoint within its memory limit; checkpointing with more memory",
            extra={"file": self.path, "memory_limit": self._memory.limit, "error": str(error).splitlines()[0]},
        )
        if self._checkpoint_with_more_memory():
            return
        if not self._degraded:
            self._degraded = True
            log.error(
                "DuckDB cannot checkpoint its file even with more memory: writing on into its write-ahead log, "
                "which grows until a checkpoint succeeds (retried every minute)",
                extra={"file": self.path, "memory_ceiling": self._memory.ceiling, "fix": MEMORY_FIX},
            )

    def _checkpoint_with_more_memory(self) -> bool:
        """Open the file with twice the limit, then twice that, up to the ceiling, until a CHECKPOINT succeeds."""
        limit = self._memory.limit
        while limit < self._memory.ceiling:
            limit = min(2 * limit, self._memory.ceiling)
            try:
                connection = open_when_free(self.path, read_only=False, timeout=OPEN_TIMEOUT, memory_limit=limit)
            except StoreBusyError as e:
                raise TransientSinkError(f"DuckDB file {self.path} is busy with readers: {e}") from e
            try:
                connection.execute("CHECKPOINT")
            except duckdb.Error as e:
                log.warning("checkpoint failed again", extra={"memory_limit": limit, "error": str(e).splitlines()[0]})
                continue
            finally:
                connection.close()
            if self._degraded:
                log.warning("DuckDB checkpointed its file again; automatic checkpoints are back on")
            self._degraded = False
            log.info("DuckDB checkpointed with more memory", extra={"file": self.path, "memory_limit": limit})
            return True
        return False

    def _after_work(self) -> None:
        """Let go of the file now if a reader waits, else once the sink has been idle a while (``_lock`` held)."""
        if reader_waiting(self.path):
            self._release()
            return
        self._timer = threading.Timer(self._release_after_idle, self._release_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _cancel_release(self) -> None:
        """Work is coming: the idle release must not close the file under it (``_lock`` held)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release_if_idle(self) -> None:
        with self._lock:
            if self._timer is threading.current_thread():
                self._release()

    def _release(self) -> None:
        """Close the connection, which checkpoints the file and lets readers in (``_lock`` held)."""
        self._timer = None
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _drop(self) -> None:
        """Close a connection DuckDB has invalidated; it fails to checkpoint, which is why it is dropped."""
        self._timer = None
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except duckdb.Error:
                log.debug("closing an invalidated DuckDB connection failed", exc_info=True)

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Insert ``rows``, in statements of about ``STATEMENT_BYTES`` each.

        Raises:
            PermanentSinkError: DuckDB refused the data (a constraint or conversion error).
            TransientSinkError: an I/O error (disk full, for example), or readers kept the file for too long.
        """
        if not rows:
            return WriteResult()
        with self._lock:
            self._cancel_release()
            try:
                # Each statement commits on its own: DuckDB cannot spill a transaction's new rows, so one
                # transaction for a batch of large reports would need them all in memory. A batch that fails
                # half-way is written again whole, and the dedup view hides the rows written twice.
                for document in sql.documents(rows):
                    self._insert(document)
            except (duckdb.ConstraintException, duckdb.ConversionException, duckdb.InvalidInputException) as e:
                raise PermanentSinkError(f"DuckDB refused the rows: {e}") from e
            except duckdb.Error as e:
                self._drop()  # the next attempt opens the file afresh
                fix = MEMORY_FIX if _short_of_memory(e) else ""
                raise TransientSinkError(f"DuckDB write failed: {e}", fix=fix) from e
            finally:
                self._after_work()
        return WriteResult()

    def _insert(self, document: str) -> None:
        try:
            self._execute(self._insert_sql, [document])
        except duckdb.Error as e:
            if not _short_of_memory(e):
                raise
            parts = sql.halves(document)
            if len(parts) == 1:
                raise
            self._drop()  # frees what the failed statement held
            for part in parts:
                self._insert(part)

    def _maintain_loop(self, every: float) -> None:
        while not self._closed.wait(every):
            try:
                self.maintain()
            except Exception:
                log.exception("DuckDB maintenance failed; trying again later")

    def maintain(self) -> int:
        """Retry a checkpoint that failed for good, and delete rows past the retention; returns rows deleted."""
        if self._degraded:
            with self._lock:
                self._cancel_release()
                try:
                    self._drop()
                    self._checkpoint_with_more_memory()
                finally:
                    self._after_work()
        if self._retention is None:
            return 0
        cutoff = datetime.now(UTC) - self._retention
        deleted = 0
        for _ in range(EXPIRE_STEPS):
            with self._lock:  # taken per step: a batch waits for one step at most
                self._cancel_release()
                try:
                    result = self._execute(sql.EXPIRE_STEP_SQL, [cutoff, EXPIRE_STEP_ROWS])
                finally:
                    self._after_work()
            step = result[0][0] if result else 0
            deleted += step
            if step < EXPIRE_STEP_ROWS or self._closed.is_set():
                break
        if deleted:
            log.info("deleted reports past the retention", extra={"rows": deleted, "before": cutoff.isoformat()})
        return deleted

    def fetchall(self, statement: str, parameters: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read query on the file, through this sink's connection (for checks of what it stored)."""
        with self._lock:
            self._cancel_release()
            try:
                return self._execute(statement, parameters)
            finally:
                self._after_work()

    def close(self) -> None:
        """Checkpoint and close the file, and give up the writer lock."""
        self._closed.set()
        with self._lock:
            self._cancel_release()
            # Closing checkpoints too, but silently gives up when short of memory: this one recovers.
            if os.path.exists(self.path + ".wal") and not self._degraded:
                try:
                    self._execute("CHECKPOINT")
                except (duckdb.Error, SinkConfigError, TransientSinkError) as e:
                    log.warning(
                        "DuckDB could not checkpoint at close; its write-ahead log keeps the rows",
                        extra={"error": str(e)},
                    )
            self._release()
        self._writer_lock.release()


def _open_for_tool(path: str, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    if not os.path.exists(path):
        raise SinkConfigError(f"cannot open DuckDB file {path}: it does not exist")
    try:
        return open_when_free(path, read_only=read_only, timeout=READ_OPEN_TIMEOUT)
    except StoreBusyError as e:
        raise StoreLockedError(f"DuckDB file {path} is open in another process: {e}") from e


def latest_reports(path: str) -> list[dict[str, Any]]:
    """The newest stored report of each cluster (duplicates removed), as wire-shaped dicts.

    Opens the file read-only through the gate, so a running writer lets go of it for the read.

    Raises:
        SinkConfigError: the file cannot be opened (missing, or kept by another process for too long).
    """
    connection = _open_for_tool(path, read_only=True)
    try:
        cursor = connection.execute(sql.LATEST_SQL)
        names = [d[0] for d in cursor.description or []]
        return sql.joined([sql.plain(dict(zip(names, row, strict=True))) for row in cursor.fetchall()])
    except duckdb.Error as e:
        raise SinkConfigError(f"cannot read reports from {path}: {e}") from e
    finally:
        connection.close()


def forget_cluster(path: str, cluster_id: str) -> int:
    """Delete every stored report of ``cluster_id``; returns the rows deleted.

    Opens the file for writing through the gate, so a running writer lets go of it meanwhile.

    Raises:
        SinkConfigError: the file cannot be opened or changed.
    """
    started = time.monotonic()
    connection = _open_for_tool(path, read_only=False)
    try:
        deleted = connection.execute(sql.FORGET_SQL, [cluster_id]).fetchone()
        # The checkpoint writes the deletion into the file itself, not only into its write-ahead log.
        connection.execute("CHECKPOINT")
    except duckdb.Error as e:
        raise SinkConfigError(f"cannot delete reports from {path}: {e}") from e
    finally:
        connection.close()
    log.info("forgot a cluster", extra={"rows": deleted[0] if deleted else 0, "s": time.monotonic() - started})
    return deleted[0] if deleted else 0
