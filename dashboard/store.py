"""The store port: where the dashboard reads reports, chosen with ``--database`` as the writer takes it.

- ``duckdb:///path/file.duckdb``: the writer's embedded file, read-only (``dashboard.duckdb_store``);
- ``bigquery://project.dataset.table``: BigQuery through the official client (``dashboard.bigquery_store``).

Each store's client is imported only when that store is chosen. Neither store
creates or alters anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol
from urllib.parse import urlsplit

from dashboard.query import Dialect
from runtime.stores import bigquery_table, duckdb_path

Row = tuple[Any, ...]
SqlFor = Callable[[str, Collection[str]], str]
"""Builds the query from the table's name and its column names."""


class StoreError(Exception):
    """The store cannot be read now (missing, unreachable, busy, or not a Spartakus table)."""


class StoreConfigError(StoreError):
    """``--database`` does not name a store the dashboard can read."""


class Store(Protocol):
    """A table of stored reports that answers one query at a time."""

    @property
    def dialect(self) -> Dialect:
        """The SQL dialect the store speaks."""
        ...

    @property
    def description(self) -> str:
        """What the store is, for logs and the page (never a secret)."""
        ...

    @property
    def bytes_billed(self) -> int:
        """Bytes the store billed for this process' queries so far (0 for a store that bills none)."""
        ...

    def query(self, sql_for: SqlFor) -> list[Row]:
        """The rows of ``sql_for(table, columns)``, run on the store's report table.

        Raises:
            StoreError: the table cannot be read.
        """
        ...


def open_store(database: str, *, emulator_host: str | None = None, max_bytes_billed: int | None = None) -> Store:
    """The store ``database`` names; ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST`` (read by the CLI);
    ``max_bytes_billed`` bounds each BigQuery query job.

    Raises:
        StoreConfigError: the URL is not a store the dashboard reads.
    """
    parts = urlsplit(database)
    if parts.scheme == "duckdb":
        from dashboard.duckdb_store import DuckDbStore  # noqa: PLC0415  # DuckDB loads only when chosen

        if not (path := duckdb_path(database)):
            raise StoreConfigError(f"--database {database!r}: give a file, e.g. duckdb:///spartakus.duckdb")
        return DuckDbStore(path)
    if parts.scheme == "bigquery":
        from dashboard.bigquery_store import BigQueryStore  # noqa: PLC0415  # the Google client loads only when chosen

        if not (table := bigquery_table(parts.netloc, parts.path)):
            raise StoreConfigError(f"--database {database!r}: expected bigquery://project.dataset.table")
        return BigQueryStore(table, emulator_host=emulator_host, max_bytes_billed=max_bytes_billed)
    raise StoreConfigError(
        f"--database {database!r}: use duckdb:///relative/file.duckdb, duckdb:////absolute/file.duckdb "
        "or bigquery://project.dataset.table"
    )
