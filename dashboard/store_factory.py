"""The store a ``--database`` names, as the writer takes it: this module only picks and opens the implementation.

- ``duckdb:///path/file.duckdb``: the writer's embedded file, read-only (``dashboard.duckdb_store``);
- ``bigquery://project.dataset.table``: BigQuery through the official client (``dashboard.bigquery_store``).

The URL was checked once, by the settings (``runtime.stores``). Each store's
client is imported only when that store is chosen. The port itself is
``dashboard.store``.
"""

from __future__ import annotations

from dashboard.store import Store, StoreConfigError
from runtime.stores import StoreURL


def open_store(store: StoreURL, *, emulator_host: str | None = None, max_bytes_billed: int | None = None) -> Store:
    """The store ``store`` (a parsed ``--database``) names; ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST`` (read
    by the CLI); ``max_bytes_billed`` bounds each BigQuery query job.

    Raises:
        StoreConfigError: the store cannot be used as configured (a BigQuery client without credentials, or a
            kind of store the dashboard does not read).
    """
    if store.kind == "duckdb":
        from dashboard.duckdb_store import DuckDbStore  # noqa: PLC0415  # DuckDB loads only when chosen

        return DuckDbStore(store.path)
    if store.kind == "bigquery":
        from dashboard.bigquery_store import BigQueryStore  # noqa: PLC0415  # the Google client loads only when chosen

        return BigQueryStore(store.table, emulator_host=emulator_host, max_bytes_billed=max_bytes_billed)
    raise StoreConfigError(f"the dashboard reads DuckDB files and BigQuery tables, not {store.kind}")
