"""One report in a process of its own: ``python -m volunteer.report_child``, started by ``volunteer.periodic``.

It takes over the settings in the ``Handover`` the waiting process passes on,
makes and sends one report, logs its one line, and exits, so that everything
a report needs (the Kubernetes client, pydantic, a page of nodes, the
report's bytes) leaves memory with it. Exit codes are
``periodic.REPORT_DELIVERED`` and ``periodic.REPORT_NOT_DELIVERED``, both
after the report's line was logged, and 2 when the handover is not usable;
SIGTERM stops the report.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

from runtime.logs import configure_logging
from runtime.settings import EXIT_CONFIG_ERROR, ConfigError
from volunteer.one_report import run_one_report, stop_on_signals
from volunteer.periodic import REPORT_DELIVERED, REPORT_NOT_DELIVERED, STOP_SIGNALS, Handover, HandoverError
from volunteer.settings import PROG, VolunteerSettings


def main() -> int:
    """Run one report; returns the exit code."""
    stop = threading.Event()
    stop_on_signals(stop)
    # The waiting process starts this one with both blocked, so that a stop during start-up waits for the handlers.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        handover = Handover.from_environ(os.environ)
        settings = VolunteerSettings.from_handover(handover.settings)
    except (HandoverError, ConfigError) as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    configure_logging(logging.DEBUG if settings.v > 0 else logging.INFO)
    delivered = run_one_report(settings, cluster_id=handover.cluster_id, stop=stop)
    return REPORT_DELIVERED if delivered else REPORT_NOT_DELIVERED


if __name__ == "__main__":
    sys.exit(main())
