"""One report, start to finish: extensions, cluster, bytes, delivery, and its one log line.

``OneReport`` does it over the ports (``volunteer.ports``), which unit tests
fill with twins; ``run_one_report`` opens the real cluster and sender from the
settings, with the key of a self-certifying id derived again for each report.
Reading the cluster and sending are each retried under ``volunteer.retry``,
both within the same deadline. The body is built once; a retried POST sends
the same bytes, so the collector derives the same report id and keeps one.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Final

from runtime.retry import RetryPolicy
from schema.signature import ClusterKey
from volunteer import identity, retry
from volunteer.cluster import KubernetesCluster, connect
from volunteer.errors import RejectedError, StartupError, StoppedError, VolunteerError
from volunteer.extensions import read_extensions
from volunteer.ports import ClusterReader, ReportSender
from volunteer.report import BuiltReport, build_report
from volunteer.sender import destination_of, open_sender
from volunteer.settings import VolunteerSettings

REPORT_LOGGER: Final = "volunteer.agent"
"""The ``logger`` of every report's line, as queries over the logs know it (the name predates this module)."""

log = logging.getLogger(REPORT_LOGGER)


@dataclass
class OneReport:
    """Makes and sends one report of a cluster each time it runs.

    Args:
        cluster: where nodes and the server version come from.
        sender: where report bodies go.
        cluster_id: the ``clusterID`` of every report.
        extensions_path: ``--extensions``, re-read for every report.
        retry_seconds: how long one report may keep retrying.
        policy: backoff of the retries.
        stop: set on SIGTERM; abandons waits and the current report.
        version: the ``version`` reports carry (this package's by default).
    """

    cluster: ClusterReader
    sender: ReportSender
    cluster_id: str
    extensions_path: Path | None
    retry_seconds: float
    policy: RetryPolicy = retry.DEFAULT_POLICY
    stop: threading.Event = field(default_factory=threading.Event)
    version: str | None = None

    def run(self) -> bool:
        """Make and send one report; True when it was delivered (or printed). Never raises a ``VolunteerError``."""
        started = time.monotonic()
        deadline = started + self.retry_seconds
        reading, attempts = retry.Attempts(), retry.Attempts()
        built: BuiltReport | None = None
        fields: dict[str, object] = {"destination": self.sender.description}
        try:
            built = retry.call(
                self._build,
                what="reading the cluster",
                deadline=deadline,
                stop=self.stop,
                policy=self.policy,
                attempts=reading,
            )
            body = built.body
            outcome = retry.call(
                lambda: self.sender.send(body),
                what="sending the report",
                deadline=deadline,
                stop=self.stop,
                policy=self.policy,
                attempts=attempts,
            )
        except StoppedError:
            fields["outcome"] = "stopped"
        except RejectedError as e:
            fields.update(outcome="rejected", status=e.status, error=e.body)
        except VolunteerError as e:
            fields.update(outcome="failed", error=str(e))
        else:
            fields["outcome"] = outcome
        if built is not None:
            fields.update(nodes=built.nodes, bytes=len(built.body), timestamp=built.timestamp)
        # ``attempts`` counts the tries of the step the report ended in: sending, or reading when that never succeeded.
        ended_reading = built is None
        fields.update(
            attempts=reading.count if ended_reading else attempts.count,
            read_attempts=reading.count,
            duration_s=round(time.monotonic() - started, 3),
        )
        delivered = fields["outcome"] in {"delivered", "printed"}
        log.log(logging.INFO if delivered else logging.ERROR, "report", extra=fields)
        return delivered

    def _build(self) -> BuiltReport:
        return build_report(
            self.cluster,
            cluster_id=self.cluster_id,
            extensions=read_extensions(self.extensions_path),
            stop=self.stop,
            version=self.version,
        )


def stop_on_signals(stop: threading.Event) -> None:
    """Make SIGTERM and SIGINT set ``stop``: waits end at once, and the report in progress is abandoned."""

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()  # nothing else: logging from a signal handler could re-enter a handler's lock

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def connect_cluster(settings: VolunteerSettings) -> KubernetesCluster:
    """A connection to the cluster as ``--kubeconfig``, ``--timeout`` and ``--page-size`` say.

    Raises:
        StartupError: when no Kubernetes configuration loads.
    """
    return connect(settings.kubeconfig, timeout=settings.timeout.total_seconds(), page_size=settings.page_size)


def _signer(
    settings: VolunteerSettings, cluster_id: str, cluster: KubernetesCluster, stop: threading.Event
) -> ClusterKey | None:
    """The key of a self-certifying id, derived again for each report: it is never kept or passed on."""
    if settings.cluster_id != identity.AUTO:
        return None
    deadline = time.monotonic() + min(settings.retry_seconds, identity.AUTO_KEY_BUDGET_S)
    key = identity.resolve_cluster_key(cluster, deadline=deadline, stop=stop)
    if key.cluster_id != cluster_id:
        raise StartupError(f"the kube-system namespace now derives {key.cluster_id}, not {cluster_id}")
    return key


def _failed(settings: VolunteerSettings, error: str) -> bool:
    log.error("report", extra={"outcome": "failed", "error": error, "destination": destination_of(settings)})
    return False


def run_one_report(
    settings: VolunteerSettings,
    *,
    cluster_id: str,
    stop: threading.Event,
    cluster: KubernetesCluster | None = None,
) -> bool:
    """Make and send one report as ``settings`` say; True when delivered. Its one line is logged either way.

    Args:
        settings: the volunteer's settings.
        cluster_id: the ``clusterID`` of the report, ``--cluster-id=auto`` already resolved.
        stop: abandons the report when set.
        cluster: an open connection to use (and close); None connects as ``settings`` say.
    """
    if cluster is None:
        try:
            cluster = connect_cluster(settings)
        except StartupError as e:  # it loaded at start; a mounted file may have gone since
            return _failed(settings, str(e))
    try:
        signer = _signer(settings, cluster_id, cluster, stop)
    except (StartupError, StoppedError) as e:
        cluster.close()
        return _failed(settings, str(e))
    sender = open_sender(settings, signer=signer)
    report = OneReport(
        cluster=cluster,
        sender=sender,
        cluster_id=cluster_id,
        extensions_path=settings.extensions,
        retry_seconds=settings.retry_seconds,
        stop=stop,
    )
    # Everything loaded so far (the client's modules and models, pydantic's
    # schemas) lives as long as the process. Freezing it keeps the cyclic
    # collector from rescanning it while pages of nodes are parsed, which
    # otherwise costs about as much as the parsing itself at 65,000 nodes.
    gc.freeze()
    try:
        return report.run()
    finally:
        sender.close()
        cluster.close()
