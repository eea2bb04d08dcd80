"""One report in a process of its own: ``python -m volunteer.reporter``, started by ``volunteer.scheduler``.

It reads the plan the scheduler passes on, makes and sends one report, logs
its one line, and exits, so that everything a report needs (the Kubernetes
client, pydantic, a page of nodes, the report's bytes) leaves memory with it.
Exit codes are ``plan.REPORT_DELIVERED`` and ``plan.REPORT_NOT_DELIVERED``,
both after the report's line was logged; SIGTERM stops the report.
``--period=0`` runs the same ``report`` inside ``spartakus volunteer``.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from runtime.logs import configure_logging
from schema.signature import ClusterKey
from volunteer import identity
from volunteer.agent import Volunteer
from volunteer.cluster import KubernetesCluster, connect
from volunteer.errors import StartupError, StoppedError
from volunteer.plan import REPORT_DELIVERED, REPORT_NOT_DELIVERED, STDOUT, Plan, PlanError
from volunteer.ports import ReportSender
from volunteer.report import volunteer_version
from volunteer.sender import HttpSender, StdoutSender

log = logging.getLogger("volunteer.agent")


def install_stop_handlers(stop: threading.Event) -> None:
    """Make SIGTERM and SIGINT set ``stop``: waits end at once, and the report in progress is abandoned."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # nothing else: logging from a signal handler could re-enter a handler's lock

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def open_sender(database: str, *, timeout: float, compress: bool, signer: ClusterKey | None = None) -> ReportSender:
    """The sender for ``--database``: HTTP to a collector, or stdout; ``signer`` signs each report."""
    if database == STDOUT:
        return StdoutSender(signer=signer)
    return HttpSender(
        database,
        timeout=timeout,
        compress=compress,
        user_agent=f"spartakus-volunteer/{volunteer_version()}",
        signer=signer,
    )


def _signer(plan: Plan, cluster: KubernetesCluster, stop: threading.Event) -> ClusterKey | None:
    """The key of a self-certifying id, derived again for each report: it is never kept or passed on."""
    if not plan.signed:
        return None
    deadline = time.monotonic() + min(plan.retry_s, identity.AUTO_KEY_BUDGET_S)
    key = identity.resolve_cluster_key(cluster, deadline=deadline, stop=stop)
    if key.cluster_id != plan.cluster_id:
        raise StartupError(f"the kube-system namespace now derives {key.cluster_id}, not {plan.cluster_id}")
    return key


def _connect(plan: Plan) -> KubernetesCluster | None:
    """A connection as ``plan`` says; None, with the report's line logged, when the configuration no longer loads."""
    try:
        return connect(
            Path(plan.kubeconfig) if plan.kubeconfig else None, timeout=plan.timeout_s, page_size=plan.page_size
        )
    except StartupError as e:  # it loaded at start; a mounted file may have gone since
        error = str(e)
    log.error("report", extra={"outcome": "failed", "error": error, "destination": plan.destination})
    return None


def _failed(plan: Plan, error: str) -> bool:
    log.error("report", extra={"outcome": "failed", "error": error, "destination": plan.destination})
    return False


def report(plan: Plan, stop: threading.Event, *, cluster: KubernetesCluster | None = None) -> bool:
    """Make and send one report as ``plan`` says; True when delivered. Its one line is logged either way.

    Args:
        plan: the validated settings.
        stop: abandons the report when set.
        cluster: an open connection to use (and close); None connects as ``plan`` says.
    """
    cluster = cluster or _connect(plan)
    if cluster is None:
        return False
    try:
        signer = _signer(plan, cluster, stop)
    except (StartupError, StoppedError) as e:
        cluster.close()
        return _failed(plan, str(e))
    sender = open_sender(plan.database, timeout=plan.timeout_s, compress=plan.gzip, signer=signer)
    volunteer = Volunteer(
        cluster=cluster,
        sender=sender,
        cluster_id=plan.cluster_id,
        extensions_path=Path(plan.extensions) if plan.extensions else None,
        retry_seconds=plan.retry_s,
        stop=stop,
    )
    # Everything loaded so far (the client's modules and models, pydantic's
    # schemas) lives as long as the process. Freezing it keeps the cyclic
    # collector from rescanning it while pages of nodes are parsed, which
    # otherwise costs about as much as the parsing itself at 65,000 nodes.
    gc.freeze()
    try:
        return volunteer.report_once()
    finally:
        sender.close()
        cluster.close()


def main() -> int:
    """Run one report; returns the exit code."""
    stop = threading.Event()
    install_stop_handlers(stop)
    # The scheduler starts this process with both blocked, so that a stop during start-up waits for the handlers.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        plan = Plan.from_environ(os.environ)
    except PlanError as e:
        print(f"spartakus volunteer: error: {e}", file=sys.stderr)
        return 2
    configure_logging(logging.DEBUG if plan.debug else logging.INFO)
    return REPORT_DELIVERED if report(plan, stop) else REPORT_NOT_DELIVERED


if __name__ == "__main__":
    sys.exit(main())
