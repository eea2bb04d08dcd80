"""``spartakus reports``: the latest stored report of each cluster, as a table or JSON, without SQL.

Which report is a cluster's latest follows ``schema.figures``, the rule the
dashboard and the dedup views follow too. Report fields are whatever a client
sent: the table shows control and formatting characters as escapes (``\x1b``,
``\u202e``), so a field cannot move the cursor, recolour or rewrite the
terminal, and cuts each cell to ``CELL_MAX`` characters, so no field sets the
table's width. ``--json`` prints the whole values, escaped as JSON.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Sequence
from typing import Any, Final, TextIO

from pydantic import Field
from pydantic_settings import BaseSettings

from runtime.settings import ConfigError, exit_config_error, load_settings, settings_config
from runtime.stores import DEFAULT_DATABASE, DUCKDB_ONLY, DuckDbDatabase, parse_database
from writer.errors import SinkConfigError, StoreLockedError

PROG = "spartakus reports"
COLUMNS = ("clusterID", "receivedAt", "version", "masterVersion", "nodes", "providers", "extensions", "verified")
CELL_MAX: Final = 64
"""Characters a table cell shows at most; a longer value ends in an ellipsis."""
_UNPRINTABLE: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Unicode categories shown as escapes: controls, format characters (bidi overrides), unassigned, line breaks."""


class ReportsSettings(BaseSettings):
    """Print the latest stored report of each cluster. --database also reads SPARTAKUS_DATABASE."""

    model_config = settings_config(PROG)

    database: DuckDbDatabase = Field(
        default=DEFAULT_DATABASE,
        description="The writer's DuckDB store, duckdb:///path/file.duckdb. [SPARTAKUS_DATABASE]",
    )
    json_output: bool = Field(default=False, alias="json", description="Print the reports as JSON instead of a table.")


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on written as a Python-style escape."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char) in _UNPRINTABLE:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def cell(value: str) -> str:
    """A table cell: ``value`` made printable and cut to ``CELL_MAX`` characters."""
    text = printable(value)
    return text if len(text) <= CELL_MAX else text[: CELL_MAX - 1] + "…"


def _verified(value: Any) -> str:
    return "" if value is None else "yes" if value else "no"


def summarise(report: dict[str, Any]) -> dict[str, str]:
    """One table row: who reported, when, and the shape of the cluster (raw values; ``cell`` makes them safe)."""
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
        "verified": _verified(report.get("verified")),
    }


def render_table(reports: Sequence[dict[str, Any]], out: TextIO) -> None:
    """Print ``reports`` as an aligned text table with a header."""
    rows = [{c: cell(v) for c, v in summarise(r).items()} for r in reports]
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
    path = parse_database(settings.database, DUCKDB_ONLY).path  # checked by the settings already
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
