"""What a ``--database`` URL names, read one way by the writer, its tools and the dashboard.

- ``duckdb:///relative.duckdb`` or ``duckdb:////absolute.duckdb``: an embedded DuckDB file (as SQLAlchemy reads
  such URLs);
- ``bigquery://project.dataset.table``: a BigQuery table;
- ``stdout``: JSON lines (the writer only).

Settings classes declare the flag with ``AnyDatabase``, ``ReadableDatabase`` or
``DuckDbDatabase``, which check it with ``parse_database``, so a bad URL is a
flag error (exit 2) in every command that takes it; the command then parses
the checked URL with the same kinds and hands the ``StoreURL`` to its factory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator

DEFAULT_DATABASE: Final = "duckdb:///spartakus.duckdb"

StoreKind = Literal["duckdb", "bigquery", "stdout"]
EVERY_KIND: Final[tuple[StoreKind, ...]] = ("bigquery", "duckdb", "stdout")
"""What the writer writes to."""
READABLE: Final[tuple[StoreKind, ...]] = ("duckdb", "bigquery")
"""The stores that keep reports to read back or delete: the dashboard's and ``spartakus forget``'s."""
DUCKDB_ONLY: Final[tuple[StoreKind, ...]] = ("duckdb",)
"""``spartakus reports`` reads the embedded file only."""

_EXAMPLES: Final[dict[StoreKind, tuple[str, ...]]] = {
    "bigquery": ("bigquery://project.dataset.table",),
    "duckdb": ("duckdb:///relative/file.duckdb", "duckdb:////absolute/file.duckdb"),
    "stdout": ("stdout",),
}


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed ``--database``: its kind, and the DuckDB file or the BigQuery ``project.dataset.table``."""

    kind: StoreKind
    path: str = ""
    table: str = ""


def parse_database(database: str, kinds: Collection[StoreKind] = EVERY_KIND) -> StoreURL:
    """The store ``database`` names, if it is one of ``kinds``.

    Raises:
        ValueError: the URL is malformed, or names a store of another kind; the message says what to use.
    """
    parts = urlsplit(database)
    if database == "stdout" and "stdout" in kinds:
        return StoreURL("stdout")
    if parts.scheme == "duckdb" and "duckdb" in kinds:
        if not (path := duckdb_path(database)):
            raise ValueError(f"{database!r}: give a file, e.g. duckdb:////var/lib/spartakus/reports.duckdb")
        return StoreURL("duckdb", path=path)
    if parts.scheme == "bigquery" and "bigquery" in kinds:
        if not (table := bigquery_table(parts.netloc, parts.path)):
            raise ValueError(f"{database!r}: expected bigquery://project.dataset.table")
        return StoreURL("bigquery", table=table)
    examples = [example for kind in EVERY_KIND if kind in kinds for example in _EXAMPLES[kind]]
    forms = ", ".join(examples[:-1]) + " or " + examples[-1] if len(examples) > 1 else examples[0]
    raise ValueError(f"{database!r}: use {forms}")


def duckdb_path(database: str) -> str:
    """The file a ``duckdb:`` URL names, as SQLAlchemy reads such URLs ("" when it names none).

    ``duckdb:///reports.duckdb`` is relative to the working directory and
    ``duckdb:////var/lib/spartakus/reports.duckdb`` is absolute.
    """
    for prefix in ("duckdb:///", "duckdb://"):
        if database.startswith(prefix):
            return database.removeprefix(prefix)
    return ""


def bigquery_table(netloc: str, path: str) -> str:
    """``project.dataset.table`` from a ``bigquery:`` URL's parts, or "" when it is not three non-empty names."""
    table = netloc + path.rstrip("/")
    if table.count(".") != 2 or any(not piece for piece in table.split(".")):
        return ""
    return table


def _checked(kinds: Collection[StoreKind]) -> Callable[[str], str]:
    def check(database: str) -> str:
        parse_database(database, kinds)
        return database

    return check


AnyDatabase = Annotated[str, AfterValidator(_checked(EVERY_KIND))]
"""A ``--database`` flag naming any store (the writer's); a bad URL fails with ``parse_database``'s message."""
ReadableDatabase = Annotated[str, AfterValidator(_checked(READABLE))]
"""A ``--database`` flag naming a DuckDB file or a BigQuery table (the dashboard's, ``spartakus forget``'s)."""
DuckDbDatabase = Annotated[str, AfterValidator(_checked(DUCKDB_ONLY))]
"""A ``--database`` flag naming a DuckDB file (``spartakus reports``)."""
