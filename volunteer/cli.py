"""``spartakus volunteer``: settings are built here, once, and passed down.

Exit codes: 0 when a one-shot report was delivered (or printed), or when a
periodic volunteer is stopped; 1 when a one-shot report failed; 2 for a
configuration error, reported in one line. ``--version`` and
``--print-databases`` answer at once, as the original's did.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from typing import Final

from runtime.logs import configure_logging
from runtime.settings import ConfigError, exit_config_error, load_settings
from volunteer.flags import normalise_flags
from volunteer.report import volunteer_version
from volunteer.settings import PROG, VolunteerSettings

DATABASE_EXAMPLES: Final = ("https://spartakus.k8s.io", "http://spartakus-ingest.spartakus.svc", "stdout")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the volunteer; returns the process exit code."""
    args = normalise_flags(list(sys.argv[1:] if argv is None else argv), VolunteerSettings)
    # The original answered these before anything else; they need no cluster id.
    if "--version" in args:
        print(f"spartakus-volunteer version {volunteer_version()}")
        return 0
    if "--print-databases" in args:
        print("Example values for --database:")
        for example in DATABASE_EXAMPLES:
            print(f"     {example}")
        return 0
    try:
        settings = load_settings(VolunteerSettings, args)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    configure_logging(logging.DEBUG if settings.v > 0 else logging.INFO)
    return run(settings)


def run(settings: VolunteerSettings, *, stop: threading.Event | None = None) -> int:
    """Build the volunteer from ``settings`` and run it until it is done or stopped; returns the exit code."""
    # Deferred so that --help, --version and configuration errors answer without loading the Kubernetes client.
    from volunteer import start  # noqa: PLC0415  # see the comment above

    return start.run(settings, stop=stop)
