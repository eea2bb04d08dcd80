"""Starting the volunteer: settings in, a running volunteer out. ``volunteer.cli`` defers importing this module.

At start the volunteer checks that a Kubernetes configuration loads and, with
``--cluster-id=auto``, derives the cluster id. Then:

- ``--period=0`` makes its one report in this process and exits;
- otherwise this process replaces itself with ``volunteer.periodic``, which
  holds nothing heavy while it waits and runs each report in a child process.
  Where the platform lacks what that needs (``sigtimedwait``), or when a
  caller passes its own stop event, the schedule runs in this process.

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
from volunteer import identity, periodic
from volunteer.cluster import KubernetesCluster
from volunteer.errors import StartupError, StoppedError
from volunteer.one_report import connect_cluster, run_one_report, stop_on_signals
from volunteer.report import volunteer_version
from volunteer.sender import destination_of
from volunteer.settings import PROG, VolunteerSettings

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
    cluster = connect_cluster(settings)
    if settings.cluster_id != identity.AUTO:
        return cluster, settings.cluster_id
    try:
        deadline = time.monotonic() + min(settings.retry_seconds, identity.AUTO_KEY_BUDGET_S)
        return cluster, identity.resolve_cluster_id(cluster, deadline=deadline, stop=stop)
    except BaseException:
        cluster.close()
        raise


def run(settings: VolunteerSettings, *, stop: threading.Event | None = None) -> int:
    """Build the volunteer from ``settings`` and run it until it is done or stopped."""
    own_stop = stop is None
    stop = stop or threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        stop_on_signals(stop)
    try:
        cluster, cluster_id = _connect(settings, stop)
    except StartupError as e:
        return exit_config_error(PROG, ConfigError(str(e)))
    except StoppedError:
        return EXIT_FAILED if settings.one_shot else EXIT_STOPPED
    destination = destination_of(settings)
    period_s = settings.period.total_seconds()
    log.info(
        "volunteer started",
        extra={
            "cluster": cluster.description,
            "cluster_id": cluster_id,
            "destination": destination,
            "period_s": period_s,
            "version": volunteer_version(),
        },
    )
    if settings.one_shot:
        delivered = run_one_report(settings, cluster_id=cluster_id, stop=stop, cluster=cluster)
        return EXIT_DELIVERED if delivered else EXIT_FAILED
    cluster.close()
    if own_stop and in_main_thread and periodic.supported():
        handover = periodic.Handover.of(
            settings.to_handover(), cluster_id=cluster_id, destination=destination, period_s=period_s
        )
        _exec_periodic(handover, stop)
    periodic.run_in_process(
        lambda: run_one_report(settings, cluster_id=cluster_id, stop=stop),
        period=period_s,
        cluster_id=cluster_id,
        stop=stop,
    )
    log.info("volunteer stopped")
    return EXIT_STOPPED


def _exec_periodic(handover: periodic.Handover, stop: threading.Event) -> NoReturn:
    """Replace this process with ``volunteer.periodic``: everything loaded so far leaves memory."""
    # Blocked signals stay blocked, and pending ones pending, across exec: a SIGTERM from now on waits for the
    # waiting process instead of killing a process half replaced.
    periodic.block_signals()
    if stop.is_set():  # a stop that came before the block
        log.info("volunteer stopped")
        sys.exit(EXIT_STOPPED)
    sys.stdout.flush()
    sys.stderr.flush()
    environ = {**os.environ, periodic.ENV_VAR: handover.to_json()}
    os.execve(sys.executable, [sys.executable, "-m", periodic.__name__], environ)  # noqa: S606  # our own interpreter, fixed arguments
