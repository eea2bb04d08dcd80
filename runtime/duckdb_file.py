"""Opening the embedded DuckDB store file through the gate: the only module that imports ``duckdb``.

The writer opens the file read-write, readers (the dashboard, ``spartakus
reports``) read-only, and ``spartakus forget`` read-write, each through the
gate of ``runtime.storelock``, waiting while another process has the file
open. That DuckDB refused to open the file because someone else holds it is
recognised here, and only here; so is what a failed statement means (the data
refused, memory short, the commit done), so that the writer and the dashboard
run their SQL without importing ``duckdb``.

Errors: ``StoreBusyError`` (the file stayed taken), ``DuckDbFileError`` (it
cannot be opened at all; ``DuckDbFileMissingError`` when it does not exist),
``DuckDbStatementError`` (a statement failed). Each caller words them as its
own errors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Final

import duckdb

from runtime.storelock import gate, poll

Row = tuple[Any, ...]

_REFUSALS: Final = (duckdb.ConstraintException, duckdb.ConversionException, duckdb.InvalidInputException)
_HELD_ELSEWHERE: Final = ("lock", "different configuration")
"""In an open's error: another process holds DuckDB's lock on the file, or (a connection in this very process)
DuckDB's instance cache has it open with other settings. Either way the holder lets go after its work."""


class DuckDbFileError(Exception):
    """DuckDB cannot open the file (not a database, no permission, ...), other than because it is taken."""


class DuckDbFileMissingError(DuckDbFileError):
    """The file does not exist, and the caller does not create it."""


def _short_of_memory(error: duckdb.Error) -> bool:
    text = str(error).lower()
    return (
        isinstance(error, duckdb.OutOfMemoryException)
        or "checkpoint" in text
        or "failed to pin block" in text
        or "out of memory" in text
    )


class DuckDbStatementError(Exception):
    """DuckDB failed a statement (or the close, which checkpoints); the attributes say what it means."""

    def __init__(self, error: duckdb.Error) -> None:
        super().__init__(str(error))
        self.refused = isinstance(error, _REFUSALS)
        """DuckDB refused the statement's data (a constraint, a conversion, invalid input): it fails so again."""
        self.short_of_memory = _short_of_memory(error)
        """A checkpoint or a commit ran out of memory; either leaves the file as it was, and the connection unusable."""
        self.committed = "COMMIT succeeded" in str(error)
        """The statement committed before what failed (a checkpoint): it must not run again."""


class DuckDbFile:
    """One open connection to a DuckDB file, made by ``DuckDbFile.open``."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self._connection = connection

    @classmethod
    def open(
        cls, path: str, *, read_only: bool, timeout: float, memory_limit: int | None = None, create: bool = False
    ) -> DuckDbFile:
        """Open ``path`` through its gate, waiting up to ``timeout`` seconds for the processes that have it to close it.

        ``memory_limit`` (bytes) bounds DuckDB from the connect on, so that replaying a write-ahead log is bounded
        too; ``create`` makes a missing file (the writer's), and the gate file with it.

        Raises:
            DuckDbFileMissingError: the file does not exist and ``create`` is off.
            StoreBusyError: the file (or its gate) stayed taken.
            DuckDbFileError: DuckDB cannot open the file.
        """
        if not create and not os.path.exists(path):
            raise DuckDbFileMissingError("it does not exist")
        with gate(path, timeout=timeout, create=not read_only):
            connection = poll(
                lambda: _connect(path, read_only=read_only, memory_limit=memory_limit),
                timeout=timeout,
                what=f"DuckDB file {path}",
            )
        return cls(connection)

    def execute(self, statement: str, parameters: Sequence[object] = ()) -> list[Row]:
        """Run one statement with bound ``parameters`` and fetch its rows.

        Raises:
            DuckDbStatementError: DuckDB failed it.
        """
        try:
            return self._connection.execute(statement, list(parameters)).fetchall()
        except duckdb.Error as e:
            raise DuckDbStatementError(e) from e

    def records(self, statement: str, parameters: Sequence[object] = ()) -> list[dict[str, Any]]:
        """The rows of one query as dicts by column name.

        Raises:
            DuckDbStatementError: DuckDB failed it.
        """
        try:
            cursor = self._connection.execute(statement, list(parameters))
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        except duckdb.Error as e:
            raise DuckDbStatementError(e) from e

    def close(self) -> None:
        """Close the connection; for the writer's, that checkpoints the file.

        Raises:
            DuckDbStatementError: DuckDB failed to close (a checkpoint that ran out of memory, for example).
        """
        try:
            self._connection.close()
        except duckdb.Error as e:
            raise DuckDbStatementError(e) from e


def _connect(path: str, *, read_only: bool, memory_limit: int | None) -> duckdb.DuckDBPyConnection | None:
    """A connection to ``path``, or None while someone else has the file open."""
    config: dict[str, str | bool | int | float | list[str]] = (
        {"memory_limit": f"{memory_limit}B"} if memory_limit else {}
    )
    try:
        return duckdb.connect(path, read_only=read_only, config=config)
    except (duckdb.IOException, duckdb.ConnectionException) as e:
        if any(sign in str(e).lower() for sign in _HELD_ELSEWHERE):
            return None
        raise DuckDbFileError(str(e)) from e
    except duckdb.Error as e:
        raise DuckDbFileError(str(e)) from e
