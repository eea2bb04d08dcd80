"""Wiring: settings in, a running volunteer out. ``volunteer.cli`` defers importing this module.

At start the volunteer checks that a Kubernetes configuration loads and, with
``--cluster-id=auto``, derives the cluster id. Then:

- ``--period=0`` makes its one report in this process and exits;
- otherwise this process replaces itself with ``volunteer.scheduler``, which
  holds nothing heavy while it waits and runs each report in a child process.
  Where the platform lacks what the scheduler needs (``sigtimedwait``), or
  when a caller passes its own stop event, the schedule runs in this process.

Exit codes: 0 when a one-shot report was delivered (or printed), or when a
periodic volunteer is stopped; 1 when a one-shot report failed; 2 when no
Kubernetes configuration can be loaded or ``--cluster-id=auto`` cannot read
the kube-system namespace.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Final, NoReturn

from runtime.settings import ConfigError, exit_config_error
from volunteer import identity, reporter, scheduler
from volunteer.cluster import KubernetesCluster, connect
from volunteer.errors import StartupError, StoppedError
from volunteer.plan import ENV_VAR, Plan
from volunteer.report import volunteer_version
from volunteer.schedule import run_periodically, slot_offset
from volunteer.settings import VolunteerSettings

PROG: Final = "spartakus volunteer"
EXIT_DELIVERED: Final = 0
EXIT_FAILED: Final = 1
EXIT_STOPPED: Final = 0

log = logging.getLogger("volunteer")


def _connect(settings: VolunteerSettings, stop: threading.Event) -> tuple[KubernetesCluster, str]:
    """The cluster connection and the cluster id (derived for ``auto``).

    Raises:
        StartupError: no configuration loads, or ``auto`` cannot read the namespace.
        StoppedError: a stop came while deriving the id.
    """
    cluster = connect(settings.kubeconfig, timeout=settings.timeout.total_seconds(), page_size=settings.page_size)
    if settings.cluster_id != identity.AUTO:
        return cluster, settings.cluster_id
    try:
        deadline = time.monotonic() + min(settings.retry_seconds, identity.AUTO_KEY_BUDGET_S)
        return cluster, identity.resolve_cluster_id(cluster, deadline=deadline, stop=stop)
    except BaseException:
        cluster.close()
        raise


def plan_of(settings: VolunteerSettings, *, cluster_id: str, destination: str) -> Plan:
    """The plan that the scheduler and each reporter follow."""
    period = settings.period.total_seconds()
    return Plan(
        cluster_id=cluster_id,
        database=settings.database,
        destination=destination,
        kubeconfig=str(settings.kubeconfig) if settings.kubeconfig else None,
        extensions=str(settings.extensions) if settings.extensions else None,
        timeout_s=settings.timeout.total_seconds(),
        retry_s=settings.retry_seconds,
        gzip=settings.gzip,
        page_size=settings.page_size,
        period_s=period,
        slot_s=slot_offset(cluster_id, period) if period > 0 else 0.0,
        debug=settings.v > 0,
        signed=settings.cluster_id == identity.AUTO,
    )


def run(settings: VolunteerSettings, *, stop: threading.Event | None = None) -> int:
    """Build the volunteer from ``settings`` and run it until it is done or stopped."""
    own_stop = stop is None
    stop = stop or threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        reporter.install_stop_handlers(stop)
    try:
        cluster, cluster_id = _connect(settings, stop)
    except StartupError as e:
        return exit_config_error(PROG, ConfigError(str(e)))
    except StoppedError:
        return EXIT_FAILED if settings.one_shot else EXIT_STOPPED
    sender = reporter.open_sender(settings.database, timeout=settings.timeout.total_seconds(), compress=False)
    plan = plan_of(settings, cluster_id=cluster_id, destination=sender.description)
    sender.close()
    log.info(
        "volunteer started",
        extra={
            "cluster": cluster.description,
            "cluster_id": cluster_id,
            "destination": plan.destination,
            "period_s": plan.period_s,
            "version": volunteer_version(),
        },
    )
    if settings.one_shot:
        return EXIT_DELIVERED if reporter.report(plan, stop, cluster=cluster) else EXIT_FAILED
    if own_stop and in_main_thread and scheduler.supported():
        cluster.close()
        _exec_scheduler(plan, stop)
    cluster.close()
    run_periodically(lambda: reporter.report(plan, stop), period=plan.period_s, cluster_id=cluster_id, stop=stop)
    log.info("volunteer stopped")
    return EXIT_STOPPED


def _exec_scheduler(plan: Plan, stop: threading.Event) -> NoReturn:
    """Replace this process with ``volunteer.scheduler``: everything loaded so far leaves memory."""
    # Blocked signals stay blocked, and pending ones pending, across exec: a SIGTERM from now on waits for the
    # scheduler instead of killing a process half replaced.
    scheduler.block_signals()
    if stop.is_set():  # a stop that came before the block
        log.info("volunteer stopped")
        sys.exit(EXIT_STOPPED)
    sys.stdout.flush()
    sys.stderr.flush()
    environ = {**os.environ, ENV_VAR: plan.to_json()}
    os.execve(sys.executable, [sys.executable, "-m", scheduler.__name__], environ)  # noqa: S606  # our own interpreter, fixed arguments
