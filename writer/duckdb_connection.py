"""The writer's connection to its DuckDB file: opened when there is work, recovered when a checkpoint fails.

The file is opened through the gate (``runtime.duckdb_file``) and closed again
whenever the sink lets readers in (``writer.duckdb_sink``).

**Memory** (``writer.duckdb_memory``): a checkpoint rewrites the whole row
group that received new rows, so with large free-text values it can need more
than DuckDB's limit, and then fails after the commit, leaving the database
unusable until reopened. The connection then reopens the file with more memory
(doubling up to the ceiling), checkpoints, and runs the statement again unless
it had committed; past the ceiling it writes on into the write-ahead log
without automatic checkpoints, says so once at error level, and the sink
retries the checkpoint every ``MAINTAIN_EVERY`` seconds.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Final

from runtime.duckdb_file import DuckDbFile, DuckDbFileError, DuckDbStatementError, Row
from runtime.storelock import StoreBusyError, protect_store
from writer.duckdb_memory import MEMORY_FIX, DuckDbMemory
from writer.errors import SinkConfigError, TransientSinkError

OPEN_TIMEOUT: Final = 10.0
"""Seconds the writer waits for readers to close the file before the batch counts as a transient failure."""
_NO_AUTOCHECKPOINT: Final = ("SET checkpoint_threshold = '1000TB'", "PRAGMA disable_checkpoint_on_shutdown")

log = logging.getLogger(__name__)


class DuckDbConnection:
    """The writer process's connection to ``path``, while it has one; the caller serialises every call."""

    def __init__(self, path: str, memory: DuckDbMemory) -> None:
        """``memory`` is the working limit and the ceiling for a checkpoint that failed under it."""
        self.path = path
        self._memory = memory
        self._file: DuckDbFile | None = None
        self.degraded = False
        """A checkpoint failed even with the ceiling: write on into the WAL, without automatic checkpoints."""

    def _open_file(self, memory_limit: int) -> DuckDbFile:
        try:
            return DuckDbFile.open(
                self.path, read_only=False, timeout=OPEN_TIMEOUT, memory_limit=memory_limit, create=True
            )
        except StoreBusyError as e:
            raise TransientSinkError(f"DuckDB file {self.path} is busy with readers: {e}") from e
        except DuckDbFileError as e:
            raise SinkConfigError(f"cannot open DuckDB file {self.path}: {e}") from e

    def _open(self) -> DuckDbFile:
        """The open file, opening it first if the connection had let go of it."""
        if self._file is None:
            file = self._open_file(self._memory.limit)
            for statement in _NO_AUTOCHECKPOINT if self.degraded else ():
                file.execute(statement)
            protect_store(self.path)
            self._file = file
        return self._file

    def execute(self, statement: str, parameters: Sequence[object] = ()) -> list[Row]:
        """Run one statement and fetch its rows, opening the file if need be.

        A checkpoint or a commit that runs out of memory leads to recovery (a checkpoint with more memory),
        then the statement runs once more, unless it had committed already (then there are no rows).

        Raises:
            DuckDbStatementError: DuckDB failed the statement (after the recovery, if it ran out of memory).
            TransientSinkError: readers kept the file for too long.
            SinkConfigError: the file cannot be opened at all.
        """
        try:
            return self._open().execute(statement, parameters)
        except DuckDbStatementError as e:
            if not e.short_of_memory:
                raise
            self._recover(e)
            if e.committed:
                return []
            return self._open().execute(statement, parameters)

    def _recover(self, error: DuckDbStatementError) -> None:
        """Checkpoint the file with more memory after ``error``, or write on without checkpoints."""
        self.drop()
        log.warning(
            "DuckDB could not checkpoint within its memory limit; checkpointing with more memory",
            extra={"file": self.path, "memory_limit": self._memory.limit, "error": str(error).splitlines()[0]},
        )
        if self.checkpoint_with_more_memory():
            return
        if not self.degraded:
            self.degraded = True
            log.error(
                "DuckDB cannot checkpoint its file even with more memory: writing on into its write-ahead log, "
                "which grows until a checkpoint succeeds (retried every minute)",
                extra={"file": self.path, "memory_ceiling": self._memory.ceiling, "fix": MEMORY_FIX},
            )

    def checkpoint_with_more_memory(self) -> bool:
        """Open the file with twice the limit, then twice that, up to the ceiling, until a CHECKPOINT succeeds.

        The connection must have let go of the file (``drop``) first.
        """
        limit = self._memory.limit
        while limit < self._memory.ceiling:
            limit = min(2 * limit, self._memory.ceiling)
            file = self._open_file(limit)
            try:
                file.execute("CHECKPOINT")
            except DuckDbStatementError as e:
                log.warning("checkpoint failed again", extra={"memory_limit": limit, "error": str(e).splitlines()[0]})
                continue
            finally:
                file.close()
            if self.degraded:
                log.warning("DuckDB checkpointed its file again; automatic checkpoints are back on")
            self.degraded = False
            log.info("DuckDB checkpointed with more memory", extra={"file": self.path, "memory_limit": limit})
            return True
        return False

    def release(self) -> None:
        """Close the file, which checkpoints it and lets readers in."""
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def drop(self) -> None:
        """Close a connection DuckDB has invalidated; it fails to checkpoint, which is why it is dropped."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except DuckDbStatementError:
                log.debug("closing an invalidated DuckDB connection failed", exc_info=True)
