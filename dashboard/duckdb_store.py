"""Reading the writer's DuckDB file: the only module of the dashboard that imports ``duckdb``.

The file is opened read-only, for one query, through the gate of
``runtime.storelock``: a running writer sees the reader waiting and lets go of
the file after its current batch, and the dashboard closes it as soon as the
query has answered, so the writer gets it back within one query's time.
"""

from __future__ import annotations

import os
from typing import Final

import duckdb

from dashboard.query import Dialect
from dashboard.store import Row, SqlFor, StoreError
from runtime.storelock import StoreBusyError, gate, poll

TABLE: Final = "reports"
OPEN_TIMEOUT: Final = 30.0
"""Seconds to wait for the writer to let go of the file; it does after the batch it is writing."""


class DuckDbStore:
    """The ``reports`` table of one DuckDB file, opened read-only for each query."""

    dialect: Dialect = "duckdb"
    bytes_billed: int = 0
    """A local file bills nothing."""

    def __init__(self, path: str, *, open_timeout: float = OPEN_TIMEOUT) -> None:
        self.path = path
        self.description = f"duckdb:///{path}"
        self._open_timeout = open_timeout

    def _try_open(self) -> duckdb.DuckDBPyConnection | None:
        try:
            return duckdb.connect(self.path, read_only=True)
        except (duckdb.IOException, duckdb.ConnectionException) as e:
            # Another process holds the lock, or (a writer in this very process) DuckDB's own instance
            # cache has the file open for writing: either way the writer lets go after its batch.
            if "lock" in str(e).lower() or "different configuration" in str(e):
                return None
            raise StoreError(f"cannot open DuckDB file {self.path}: {e}") from e
        except duckdb.Error as e:
            raise StoreError(f"cannot open DuckDB file {self.path}: {e}") from e

    def _open(self) -> duckdb.DuckDBPyConnection:
        if not os.path.exists(self.path):
            raise StoreError(f"DuckDB file {self.path} does not exist: start a writer on it first")
        try:
            with gate(self.path, timeout=self._open_timeout, create=False):
                return poll(self._try_open, timeout=self._open_timeout, what=f"DuckDB file {self.path}")
        except StoreBusyError as e:
            raise StoreError(f"DuckDB file {self.path} is busy: {e}") from e

    def query(self, sql_for: SqlFor) -> list[Row]:
        """The rows of ``sql_for("reports", columns)``, from one read-only session.

        Raises:
            StoreError: the file is missing, stays busy, or has no ``reports`` table.
        """
        connection = self._open()
        try:
            # Weeks are UTC weeks, as BigQuery counts them; a server has no terminal for a progress bar.
            connection.execute("SET TimeZone = 'UTC'")
            connection.execute("SET enable_progress_bar = false")
            columns = {
                row[0]
                for row in connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [TABLE]
                ).fetchall()
            }
            if not columns:
                raise StoreError(f"DuckDB file {self.path} has no table {TABLE!r}")
            return connection.execute(sql_for(TABLE, columns)).fetchall()
        except duckdb.Error as e:
            raise StoreError(f"cannot read {TABLE} in {self.path}: {e}") from e
        finally:
            connection.close()
