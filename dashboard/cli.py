"""``spartakus dashboard``: settings are built here, once, and passed down."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import Final

from dashboard.adoption import adoption
from dashboard.page import standalone_page
from dashboard.settings import DashboardSettings
from dashboard.store import Store, StoreConfigError, StoreError
from dashboard.store_factory import open_store
from runtime.logs import configure_logging
from runtime.settings import ConfigError, exit_config_error, load_settings
from runtime.stores import READABLE, parse_database

PROG: Final = "spartakus dashboard"
EXIT_FAILURE: Final = 1

log = logging.getLogger("dashboard")


def write_page(store: Store, settings: DashboardSettings) -> int:
    """Write the self-contained page to ``settings.out``; returns the exit code."""
    assert settings.out is not None  # noqa: S101  # the caller checked
    try:
        data = adoption(
            store, window=settings.window, min_clusters=settings.min_clusters, verified_only=settings.verified_only
        )
    except StoreError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    try:
        settings.out.write_bytes(standalone_page(data))
    except OSError as e:
        print(f"{PROG}: error: cannot write {settings.out}: {e}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {settings.out}: {data['clusters']} clusters, {data['nodes']} nodes", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the dashboard until SIGTERM or SIGINT, or write it with --out; returns the exit code."""
    try:
        settings = load_settings(DashboardSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    configure_logging(settings.log_level.upper())
    try:
        store = open_store(
            parse_database(settings.database, READABLE),  # checked by the settings already
            emulator_host=os.environ.get("BIGQUERY_EMULATOR_HOST"),
            max_bytes_billed=settings.max_bytes_billed,
        )
    except StoreConfigError as e:
        return exit_config_error(PROG, ConfigError(str(e)))
    if settings.out is not None:
        return write_page(store, settings)
    from dashboard.server import serve  # noqa: PLC0415  # --out needs no HTTP server

    return serve(store, settings)
