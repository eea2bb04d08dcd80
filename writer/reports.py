"""``spartakus reports``: the latest stored report of each cluster, as a table or JSON, without SQL."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from pydantic import Field
from pydantic_settings import BaseSettings

from runtime.settings import ConfigError, exit_config_error, load_settings, settings_config
from runtime.stores import duckdb_path
from writer.errors import SinkConfigError, StoreLockedError
from writer.settings import DEFAULT_DATABASE

PROG = "spartakus reports"
COLUMNS = ("clusterID", "receivedAt", "version", "masterVersion", "nodes", "providers", "extensions")


class ReportsSettings(BaseSettings):
    """Print the latest stored report of each cluster. --database also reads SPARTAKUS_DATABASE."""

    model_config = settings_config(PROG)

    database: str = Field(
        default=DEFAULT_DATABASE,
        description="The writer's DuckDB store, duckdb:///path/file.duckdb. [SPARTAKUS_DATABASE]",
    )
    json_output: bool = Field(default=False, alias="json", description="Print the reports as JSON instead of a table.")


def summarise(report: dict[str, Any]) -> dict[str, str]:
    """One table row: who reported, when, and the shape of the cluster."""
    nodes = report.get("nodes") or []
    providers = sorted({node.get("cloudProvider") or "unknown" for node in nodes})
    return {
        "clusterID": str(report.get("clusterID", "")),
        "receivedAt": str(report.get("receivedAt") or report.get("timestamp", "")),
        "version": str(report.get("version", "")),
        "masterVersion": str(report.get("masterVersion") or ""),
        "nodes": str(len(nodes)),
        "providers": ",".join(providers),
        "extensions": str(len(report.get("extensions") or [])),
    }


def render_table(reports: Sequence[dict[str, Any]], out: TextIO) -> None:
    """Print ``reports`` as an aligned text table with a header."""
    rows = [summarise(r) for r in reports]
    widths = {c: max([len(c), *(len(row[c]) for row in rows)]) for c in COLUMNS}
    out.write("  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")
    for row in rows:
        out.write("  ".join(row[c].ljust(widths[c]) for c in COLUMNS).rstrip() + "\n")
    out.write(f"{len(rows)} cluster(s)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the latest report per cluster; 0 on success, 1 if the store cannot be read, 2 on bad flags."""
    try:
        settings = load_settings(ReportsSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    path = duckdb_path(settings.database)
    if not path:
        return exit_config_error(PROG, ConfigError(f"--database: {settings.database!r} is not a duckdb:/// URL"))
    # Imported here so that --help and flag errors do not load DuckDB.
    from writer.duckdb_sink import latest_reports  # noqa: PLC0415

    try:
        reports = latest_reports(path)
    except SinkConfigError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        if isinstance(e, StoreLockedError):
            # A running spartakus writer lets readers in between batches; something else keeps the file.
            print(
                f"{PROG}: close the process that keeps {path} open (the DuckDB CLI?), then run this again",
                file=sys.stderr,
            )
        return 1
    if settings.json_output:
        json.dump(reports, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        render_table(reports, sys.stdout)
    return 0
