"""``spartakus ingest``: settings are built here, once, and passed down."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ingest.settings import IngestSettings
from schema.settings import ConfigError, exit_config_error, load_settings

PROG = "spartakus ingest"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ingest gateway; returns the process exit code."""
    try:
        settings = load_settings(IngestSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    print(f"{PROG}: not implemented yet (would listen on {settings.host}:{settings.port})", file=sys.stderr)
    return 1
