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
when it returns. Closing the file checkpoints it; a checkpoint that runs out
of memory is recovered from by the connection (``writer.duckdb_connection``).
A statement that runs out of memory itself is split in halves. Retention
deletes rows in steps of ``EXPIRE_STEP_ROWS`` every ``MAINTAIN_EVERY``
seconds, between batches, when the connection also retries a checkpoint that
failed for good.

``latest_reports`` and ``forget_cluster`` are the commands' reads and deletes
(``spartakus reports``, ``spartakus forget``), through the same gate.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from runtime.duckdb_file import DuckDbFile, DuckDbFileError, DuckDbStatementError
from runtime.storelock import StoreBusyError, WriterLock, WriterRunningError, reader_waiting
from schema.bigquery import FieldSchema, load_table_schema
from writer import duckdb_sql as sql
from writer.duckdb_connection import DuckDbConnection
from writer.duckdb_memory import DEFAULT_MEMORY, MEMORY_FIX, DuckDbMemory
from writer.errors import PermanentSinkError, SinkConfigError, StoreLockedError, TransientSinkError
from writer.rows import Row
from writer.sink import WriteResult

TABLE: Final = sql.TABLE
DEDUP_VIEW: Final = sql.DEDUP_VIEW
RELEASE_AFTER_IDLE: Final = 0.2
"""Seconds without a batch after which the writer closes the file, so that any reader may open it."""
READ_OPEN_TIMEOUT: Final = 30.0
"""Seconds a reader waits for the writer to let go of the file."""
MAINTAIN_EVERY: Final = 60.0
"""Seconds between two rounds of retention (and of checkpoint retries after a checkpoint failed for good)."""
EXPIRE_STEP_ROWS: Final = 2000
"""Rows deleted per statement by retention: a step takes milliseconds, so batches barely wait."""
EXPIRE_STEPS: Final = 100
"""Steps per round at most; the rest waits for the next round."""

log = logging.getLogger(__name__)


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
        self._retention = retention
        self._lock = threading.Lock()
        """Held while the connection is used, opened or closed: the sink thread and the timers share it."""
        self._connection = DuckDbConnection(path, memory)
        self._timer: threading.Timer | None = None
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
        except (SinkConfigError, TransientSinkError, DuckDbStatementError) as e:
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
        execute = self._connection.execute
        execute(sql.create_table_sql(columns))
        existing = {row[0] for row in execute(f"DESCRIBE {TABLE}")}
        for column in columns:
            # Newer columns are NULLABLE by contract, so an older file gains them with NULLs.
            if column["name"] not in existing and column["mode"] != "REQUIRED":
                execute(
                    f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {sql.quote(column['name'])} "
                    f"{sql.column_type(column)}"
                )
        execute(sql.DEDUP_SQL)

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
        self._connection.release()

    def _drop(self) -> None:
        """Close a connection DuckDB has invalidated (``_lock`` held)."""
        self._timer = None
        self._connection.drop()

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
            except DuckDbStatementError as e:
                if e.refused:
                    raise PermanentSinkError(f"DuckDB refused the rows: {e}") from e
                self._drop()  # the next attempt opens the file afresh
                fix = MEMORY_FIX if e.short_of_memory else ""
                raise TransientSinkError(f"DuckDB write failed: {e}", fix=fix) from e
            finally:
                self._after_work()
        return WriteResult()

    def _insert(self, document: str) -> None:
        try:
            self._connection.execute(self._insert_sql, [document])
        except DuckDbStatementError as e:
            if not e.short_of_memory:
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
        if self._connection.degraded:
            with self._lock:
                self._cancel_release()
                try:
                    self._drop()
                    self._connection.checkpoint_with_more_memory()
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
                    result = self._connection.execute(sql.EXPIRE_STEP_SQL, [cutoff, EXPIRE_STEP_ROWS])
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
                return self._connection.execute(statement, parameters)
            finally:
                self._after_work()

    def close(self) -> None:
        """Checkpoint and close the file, and give up the writer lock."""
        self._closed.set()
        with self._lock:
            self._cancel_release()
            # Closing checkpoints too, but silently gives up when short of memory: this one recovers.
            if os.path.exists(self.path + ".wal") and not self._connection.degraded:
                try:
                    self._connection.execute("CHECKPOINT")
                except (DuckDbStatementError, SinkConfigError, TransientSinkError) as e:
                    log.warning(
                        "DuckDB could not checkpoint at close; its write-ahead log keeps the rows",
                        extra={"error": str(e)},
                    )
            self._release()
        self._writer_lock.release()


def _open_for_tool(path: str, *, read_only: bool) -> DuckDbFile:
    try:
        return DuckDbFile.open(path, read_only=read_only, timeout=READ_OPEN_TIMEOUT)
    except DuckDbFileError as e:
        raise SinkConfigError(f"cannot open DuckDB file {path}: {e}") from e
    except StoreBusyError as e:
        raise StoreLockedError(f"DuckDB file {path} is open in another process: {e}") from e


def latest_reports(path: str) -> list[dict[str, Any]]:
    """The newest stored report of each cluster (duplicates removed), as wire-shaped dicts.

    Opens the file read-only through the gate, so a running writer lets go of it for the read.

    Raises:
        SinkConfigError: the file cannot be opened (missing, or kept by another process for too long).
    """
    file = _open_for_tool(path, read_only=True)
    try:
        return sql.joined([sql.plain(record) for record in file.records(sql.LATEST_SQL)])
    except DuckDbStatementError as e:
        raise SinkConfigError(f"cannot read reports from {path}: {e}") from e
    finally:
        file.close()


def forget_cluster(path: str, cluster_id: str) -> int:
    """Delete every stored report of ``cluster_id``; returns the rows deleted.

    Opens the file for writing through the gate, so a running writer lets go of it meanwhile.

    Raises:
        SinkConfigError: the file cannot be opened or changed.
    """
    started = time.monotonic()
    file = _open_for_tool(path, read_only=False)
    try:
        deleted = file.execute(sql.FORGET_SQL, [cluster_id])
        # The checkpoint writes the deletion into the file itself, not only into its write-ahead log.
        file.execute("CHECKPOINT")
    except DuckDbStatementError as e:
        raise SinkConfigError(f"cannot delete reports from {path}: {e}") from e
    finally:
        file.close()
    rows = deleted[0][0] if deleted else 0
    log.info("forgot a cluster", extra={"rows": rows, "s": time.monotonic() - started})
    return rows
