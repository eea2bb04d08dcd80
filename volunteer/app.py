"""Wiring: settings in, a running volunteer out. ``volunteer.cli`` defers importing this module.

Exit codes: 0 when a one-shot report was delivered (or printed), or when a
periodic volunteer is stopped; 1 when a one-shot report failed; 2 when no
Kubernetes configuration can be loaded.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from types import FrameType
from typing import Final

from runtime.settings import ConfigError, exit_config_error
from volunteer.agent import Volunteer
from volunteer.cluster import connect
from volunteer.errors import StartupError
from volunteer.ports import ReportSender
from volunteer.report import volunteer_version
from volunteer.schedule import run_periodically
from volunteer.sender import HttpSender, StdoutSender
from volunteer.settings import STDOUT, VolunteerSettings

PROG: Final = "spartakus volunteer"
EXIT_DELIVERED: Final = 0
EXIT_FAILED: Final = 1

log = logging.getLogger("volunteer")


def _install_stop_handlers(stop: threading.Event) -> None:
    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # nothing else: logging from a signal handler could re-enter a handler's lock

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _sender(settings: VolunteerSettings) -> ReportSender:
    if settings.database == STDOUT:
        return StdoutSender()
    return HttpSender(
        settings.database,
        timeout=settings.timeout.total_seconds(),
        compress=settings.gzip,
        user_agent=f"spartakus-volunteer/{volunteer_version()}",
    )


def run(settings: VolunteerSettings, *, stop: threading.Event | None = None) -> int:
    """Build the volunteer from ``settings`` and run it until it is done or stopped."""
    stop = stop or threading.Event()
    try:
        cluster = connect(settings.kubeconfig, timeout=settings.timeout.total_seconds(), page_size=settings.page_size)
    except StartupError as e:
        return exit_config_error(PROG, ConfigError(str(e)))
    sender = _sender(settings)
    volunteer = Volunteer(
        cluster=cluster,
        sender=sender,
        cluster_id=settings.cluster_id,
        extensions_path=settings.extensions,
        retry_seconds=settings.retry_seconds,
        stop=stop,
    )
    _prepare_process(stop)
    log.info(
        "volunteer started",
        extra={
            "cluster": cluster.description,
            "destination": sender.description,
            "period_s": settings.period.total_seconds(),
            "version": volunteer_version(),
        },
    )
    try:
        return _serve(volunteer, settings, stop)
    finally:
        sender.close()
        cluster.close()


def _prepare_process(stop: threading.Event) -> None:
    if threading.current_thread() is threading.main_thread():
        _install_stop_handlers(stop)
    # Everything loaded so far (the client's modules and models, pydantic's
    # schemas) lives as long as the process. Freezing it keeps the cyclic
    # collector from rescanning it while pages of nodes are parsed, which
    # otherwise costs about as much as the parsing itself at 65,000 nodes.
    gc.freeze()


def _serve(volunteer: Volunteer, settings: VolunteerSettings, stop: threading.Event) -> int:
    if settings.one_shot:
        return EXIT_DELIVERED if volunteer.report_once() else EXIT_FAILED
    run_periodically(
        volunteer.report_once, period=settings.period.total_seconds(), cluster_id=settings.cluster_id, stop=stop
    )
    log.info("volunteer stopped")
    return EXIT_DELIVERED
