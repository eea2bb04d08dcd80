"""``spartakus volunteer``: settings are built here, once, and passed down."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from schema.settings import ConfigError, exit_config_error, load_settings
from volunteer.settings import VolunteerSettings

PROG = "spartakus volunteer"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the volunteer; returns the process exit code."""
    try:
        settings = load_settings(VolunteerSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    print(f"{PROG}: not implemented yet (cluster {settings.cluster_id})", file=sys.stderr)
    return 1
