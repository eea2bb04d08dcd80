"""Reading the writer's DuckDB file, read-only, through ``runtime.duckdb_file``.

The file is opened for one query, through the gate of ``runtime.storelock``:
a running writer sees the reader waiting and lets go of the file after its
current batch, and the dashboard closes it as soon as the query has answered,
so the writer gets it back within one query's time.
"""

from __future__ import annotations

from typing import Final

from dashboard.query import Dialect
from dashboard.store import Row, SqlFor, StoreError
from runtime.duckdb_file import DuckDbFile, DuckDbFileError, DuckDbFileMissingError, DuckDbStatementError
from runtime.storelock import StoreBusyError

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

    def _open(self) -> DuckDbFile:
        try:
            return DuckDbFile.open(self.path, read_only=True, timeout=self._open_timeout)
        except DuckDbFileMissingError as e:
            raise StoreError(f"DuckDB file {self.path} does not exist: start a writer on it first") from e
        except DuckDbFileError as e:
            raise StoreError(f"cannot open DuckDB file {self.path}: {e}") from e
        except StoreBusyError as e:
            raise StoreError(f"DuckDB file {self.path} is busy: {e}") from e

    def query(self, sql_for: SqlFor) -> list[Row]:
        """The rows of ``sql_for("reports", columns)``, from one read-only session.

        Raises:
            StoreError: the file is missing, stays busy, or has no ``reports`` table.
        """
        file = self._open()
        try:
            # Weeks are UTC weeks, as BigQuery counts them; a server has no terminal for a progress bar.
            file.execute("SET TimeZone = 'UTC'")
            file.execute("SET enable_progress_bar = false")
            columns = {
                row[0]
                for row in file.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [TABLE]
                )
            }
            if not columns:
                raise StoreError(f"DuckDB file {self.path} has no table {TABLE!r}")
            return file.execute(sql_for(TABLE, columns))
        except DuckDbStatementError as e:
            raise StoreError(f"cannot read {TABLE} in {self.path}: {e}") from e
        finally:
            file.close()
