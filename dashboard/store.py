"""The store port: a table of reports the dashboard reads, and the errors reading it raises.

The implementations (``dashboard.duckdb_store``, ``dashboard.bigquery_store``)
import this module and nothing of each other's; ``dashboard.store_factory`` picks one
from ``--database``. No store creates or alters anything.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol

from dashboard.query import Dialect

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
