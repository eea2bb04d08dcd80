"""One report, start to finish: extensions, cluster, bytes, delivery, and its one log line.

Reading the cluster and sending are each retried under ``volunteer.retry``,
both within the same deadline. The body is built once; a retried POST sends
the same bytes, so the collector derives the same report id and keeps one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from volunteer import retry
from volunteer.errors import RejectedError, StoppedError, VolunteerError
from volunteer.extensions import read_extensions
from volunteer.ports import ClusterReader, ReportSender
from volunteer.report import BuiltReport, build_report

log = logging.getLogger(__name__)


@dataclass
class Volunteer:
    """Makes and sends reports of one cluster.

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
    policy: retry.RetryPolicy = field(default_factory=retry.RetryPolicy)
    stop: threading.Event = field(default_factory=threading.Event)
    version: str | None = None

    def report_once(self) -> bool:
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
