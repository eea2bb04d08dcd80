"""``spartakus forget --cluster-id ID``: delete every stored report of one cluster, from either store.

DuckDB: the command opens the file through the gate (a running writer lets go
of it meanwhile), deletes the cluster's rows and checkpoints. BigQuery: one
``DELETE`` statement; rows streamed in the last minutes cannot be deleted yet,
and the command then says to run it again later. A report still in the queue
is stored afterwards: stop the cluster's volunteer first.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings

from runtime.settings import ConfigError, exit_config_error, load_settings, settings_config
from runtime.stores import DEFAULT_DATABASE, READABLE, ReadableDatabase, StoreURL, parse_database
from writer.errors import SinkConfigError

PROG: Final = "spartakus forget"
EXIT_FAILURE: Final = 1


class ForgetSettings(BaseSettings):
    """Delete every stored report of one cluster. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config(PROG)

    cluster_id: str = Field(min_length=1, description="The cluster whose reports to delete. [SPARTAKUS_CLUSTER_ID]")
    database: ReadableDatabase = Field(
        default=DEFAULT_DATABASE,
        description="The store, as the writer takes it: bigquery://project.dataset.table, duckdb:///relative.duckdb "
        "or duckdb:////absolute.duckdb. [SPARTAKUS_DATABASE]",
    )


def forget(store: StoreURL, cluster_id: str, *, emulator_host: str | None) -> int:
    """Delete ``cluster_id``'s reports from ``store`` (a parsed ``--database``); returns the rows deleted.

    Raises:
        SinkConfigError: the store refused, or keeps no reports (``stdout``).
    """
    if store.kind == "duckdb":
        from writer.duckdb_sink import forget_cluster  # noqa: PLC0415  # DuckDB loads only when chosen

        return forget_cluster(store.path, cluster_id)
    if store.kind == "bigquery":
        from writer.bigquery_sink import forget_cluster as forget_in_bigquery  # noqa: PLC0415  # as above

        return forget_in_bigquery(store.table, cluster_id, emulator_host=emulator_host)
    raise SinkConfigError(f"{store.kind} keeps no reports to delete")


def main(argv: Sequence[str] | None = None) -> int:
    """Delete one cluster's reports; returns the process exit code."""
    try:
        settings = load_settings(ForgetSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    try:
        deleted = forget(
            parse_database(settings.database, READABLE),  # checked by the settings already
            settings.cluster_id,
            emulator_host=os.environ.get("BIGQUERY_EMULATOR_HOST"),
        )
    except SinkConfigError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"deleted {deleted} rows of cluster {settings.cluster_id!r}", file=sys.stderr)
    return 0
