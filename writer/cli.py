"""``spartakus writer`` and ``spartakus dlq``: settings are built here, once, and passed down."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from schema.settings import ConfigError, exit_config_error, load_settings
from writer.settings import DlqSettings, WriterSettings

PROG = "spartakus writer"
DLQ_PROG = "spartakus dlq"


def main(argv: Sequence[str] | None = None) -> int:
    """Run a writer; returns the process exit code."""
    try:
        settings = load_settings(WriterSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    print(f"{PROG}: not implemented yet (would write to {settings.database})", file=sys.stderr)
    return 1


def dlq_main(argv: Sequence[str] | None = None) -> int:
    """List or replay dead-lettered reports; returns the process exit code."""
    try:
        settings = load_settings(DlqSettings, argv)
    except ConfigError as e:
        return exit_config_error(DLQ_PROG, e)
    print(f"{DLQ_PROG} {settings.action}: not implemented yet", file=sys.stderr)
    return 1
