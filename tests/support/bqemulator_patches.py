"""What the tests change in bqemulator 1.4.0 before starting it, in process or as a process of its own."""

from __future__ import annotations

from typing import Any

from bqemulator.api.routes import tabledata
from bqemulator.grpc_api import write_servicer
from bqemulator.storage.engine import DuckDBEngine


def _no_spatial(_engine: DuckDBEngine) -> None:
    """Nothing in Spartakus uses GEOGRAPHY, and the extension's download fails offline."""


def _table_arrow_schema(table_meta: Any) -> Any:
    """The target table's Arrow schema, RECORD columns with their fields.

    bqemulator 1.4.0's Storage Write API builds it without the fields of RECORD columns, so every append to a
    table with one (``nodes``, ``extensions``) fails in DuckDB ("Cannot cast STRUCTs of different size"); its REST
    path builds the same schema correctly, with this helper.
    """
    fields: Any = tabledata._fields_raw_from_schema(table_meta.schema_.fields)
    return tabledata._build_arrow_schema(fields)


def patch_emulator() -> None:
    """Start offline, and let the Storage Write API append nested rows."""
    DuckDBEngine._load_spatial = _no_spatial  # type: ignore[method-assign,assignment]
    write_servicer._table_arrow_schema = _table_arrow_schema
