"""One report, start to finish, with in-memory twins: retries, outcomes and the one log line."""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

import pytest

from runtime.retry import RetryPolicy
from tests.support.k8s_nodes import sample_nodes
from tests.volunteer.twins import InMemoryCluster, RecordingSender
from volunteer.errors import ClusterError, RejectedError, TransientClusterError, TransientSendError
from volunteer.one_report import REPORT_LOGGER, OneReport

FAST = RetryPolicy(first_wait=0.01, max_wait=0.02)


def _report(cluster: InMemoryCluster, sender: RecordingSender, extensions: Path | None = None) -> OneReport:
    return OneReport(
        cluster=cluster, sender=sender, cluster_id="c", extensions_path=extensions, retry_seconds=5, policy=FAST
    )


def _report_line(caplog: pytest.LogCaptureFixture) -> logging.LogRecord:
    [line] = [r for r in caplog.records if r.name == REPORT_LOGGER and r.getMessage() == "report"]
    return line


def test_a_delivered_report_logs_one_structured_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    sender = RecordingSender()

    started = time.monotonic()
    assert _report(InMemoryCluster(sample_nodes()), sender).run() is True
    elapsed = time.monotonic() - started

    line = _report_line(caplog)
    assert (line.outcome, line.nodes, line.bytes, line.attempts) == ("delivered", 5, len(sender.bodies[0]), 1)  # type: ignore[attr-defined]
    # Seconds, rounded to milliseconds, measured inside the call.
    assert 0 <= line.duration_s <= round(elapsed, 3) + 0.001  # type: ignore[attr-defined]


def test_transient_errors_on_both_sides_are_retried_and_the_same_bytes_resent(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    cluster = InMemoryCluster(sample_nodes(), failures=deque([TransientClusterError("503")]))
    sender = RecordingSender(failures=deque([TransientSendError("503"), TransientSendError("timeout")]))

    assert _report(cluster, sender).run() is True
    assert cluster.reads == 2
    assert len(sender.bodies) == 3
    assert len(set(sender.bodies)) == 1
    assert _report_line(caplog).attempts == 3  # type: ignore[attr-defined]


def test_a_rejection_is_not_retried_and_its_body_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    sender = RecordingSender(failures=deque([RejectedError(422, '{"error": "clusterID: too long"}')]))

    assert _report(InMemoryCluster(sample_nodes()), sender).run() is False

    line = _report_line(caplog)
    assert len(sender.bodies) == 1
    assert (line.levelno, line.outcome, line.status) == (logging.ERROR, "rejected", 422)  # type: ignore[attr-defined]
    assert "too long" in line.error  # type: ignore[attr-defined]


def test_a_permanent_cluster_error_fails_the_report_without_sending(caplog: pytest.LogCaptureFixture) -> None:
    cluster = InMemoryCluster(sample_nodes(), failures=deque([ClusterError("HTTP 403: nodes is forbidden")]))
    sender = RecordingSender()

    assert _report(cluster, sender).run() is False
    assert sender.bodies == []
    assert "forbidden" in _report_line(caplog).error  # type: ignore[attr-defined]


def test_extensions_are_read_for_every_report(tmp_path: Path) -> None:
    file = tmp_path / "extensions.json"
    sender = RecordingSender()
    report = _report(InMemoryCluster(sample_nodes()), sender, file)
    file.write_text('{"example.com/run": "1"}')
    report.run()
    file.write_text('{"example.com/run": "2"}')
    report.run()

    assert [b'"value":"1"' in sender.bodies[0], b'"value":"2"' in sender.bodies[1]] == [True, True]


def test_a_stopped_report_is_not_delivered(caplog: pytest.LogCaptureFixture) -> None:
    report = _report(InMemoryCluster(sample_nodes()), RecordingSender())
    report.stop.set()

    assert report.run() is False
    assert _report_line(caplog).outcome == "stopped"  # type: ignore[attr-defined]


def test_a_refusal_while_reading_the_cluster_logs_the_reading_attempts(caplog: pytest.LogCaptureFixture) -> None:
    cluster = InMemoryCluster(
        sample_nodes(), failures=deque([TransientClusterError("503"), ClusterError("HTTP 403: nodes is forbidden")])
    )

    assert _report(cluster, RecordingSender()).run() is False

    line = _report_line(caplog)
    assert (line.outcome, line.attempts, line.read_attempts) == ("failed", 2, 2)  # type: ignore[attr-defined]
