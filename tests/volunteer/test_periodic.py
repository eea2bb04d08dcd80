"""The periodic volunteer: a small waiting process, one report child per report, SIGTERM; and the in-process loop."""

from __future__ import annotations

import itertools
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.settings import load_settings
from tests.support.collector import CollectorStandIn, Reply
from tests.support.k8s_api import KUBE_SYSTEM_UID
from tests.support.services import wait_until
from tests.volunteer.commands import MODULE, VolunteerProcess, clean_env
from volunteer.identity import cluster_id_from_uid
from volunteer.periodic import ENV_VAR, STOP_GRACE_S, Handover, HandoverError, run_in_process
from volunteer.settings import VolunteerSettings
from volunteer.start import run as run_volunteer

DAY = 24 * 3600.0
IDLE_RSS_LIMIT = 24 * 2**20
# Shared objects that only the report machinery loads: pydantic, TLS, OpenSSL's hashes.
HEAVY_LIBRARIES = ("pydantic_core", "_ssl.", "_hashlib.", "libssl", "yaml")


@pytest.fixture
def started(kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path) -> Iterator[VolunteerProcess]:
    """``--cluster-id=auto --period=1h`` against the stand-ins, already past its report at start."""
    command = [*MODULE, "--cluster-id=auto", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    try:
        yield volunteer
    finally:
        volunteer.close()


def _mapped_files(volunteer: VolunteerProcess) -> str:
    return Path(f"/proc/{volunteer.ps.pid}/maps").read_text()


def _wait_idle(volunteer: VolunteerProcess, reports: int = 1) -> None:
    wait_until(
        lambda: len(volunteer.reports()) >= reports and not volunteer.children(),
        timeout=60,
        what=f"{reports} report(s) logged and the report child gone",
    )


@pytest.mark.integration
def test_between_reports_only_a_small_process_without_the_report_machinery_remains(
    started: VolunteerProcess, collector: CollectorStandIn
) -> None:
    _wait_idle(started)

    [request] = collector.reports()
    assert request.json()["clusterID"] == cluster_id_from_uid(KUBE_SYSTEM_UID)
    assert started.ps.cmdline()[1:] == ["-m", "volunteer.periodic"]
    assert started.children() == []
    mapped = _mapped_files(started)
    assert [name for name in HEAVY_LIBRARIES if name in mapped] == []
    assert started.tree_rss() <= IDLE_RSS_LIMIT, f"{started.tree_rss() / 2**20:.1f} MiB"
    assert started.reports()[0]["outcome"] == "delivered"
    # What the report children are handed carries the derived id, never the UID that its key is derived from.
    environ = Path(f"/proc/{started.ps.pid}/environ").read_bytes()
    assert cluster_id_from_uid(KUBE_SYSTEM_UID).encode() in environ
    assert KUBE_SYSTEM_UID.encode() not in environ


@pytest.mark.integration
def test_sigterm_while_waiting_ends_the_volunteer_at_once_with_exit_0(started: VolunteerProcess) -> None:
    _wait_idle(started)

    began = time.monotonic()
    assert started.terminate() == 0
    assert time.monotonic() - began < 2
    assert started.lines()[-1]["message"] == "volunteer stopped"


@pytest.mark.integration
def test_sigterm_stops_a_report_in_flight_and_logs_it_once(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    collector.script(Reply(204, delay=120))  # the POST hangs: the report child is blocked in network I/O
    command = [*MODULE, "--cluster-id=c", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    try:
        collector.wait_for_reports(1, timeout=60)
        [child] = volunteer.children()

        began = time.monotonic()
        assert volunteer.terminate() == 0
        stopped_within = time.monotonic() - began
    finally:
        volunteer.close()

    assert stopped_within < STOP_GRACE_S + 3
    assert not child.is_running()
    [line] = volunteer.reports()
    assert line["outcome"] == "stopped"
    assert volunteer.lines()[-1]["message"] == "volunteer stopped"


@pytest.mark.integration
def test_a_report_child_that_dies_is_logged_for_it_and_the_volunteer_keeps_waiting(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    collector.script(Reply(204, delay=120))
    command = [*MODULE, "--cluster-id=c", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    try:
        collector.wait_for_reports(1, timeout=60)
        [child] = volunteer.children()
        child.send_signal(signal.SIGKILL)  # as the kernel's OOM killer would
        _wait_idle(volunteer)

        [line] = volunteer.reports()
        assert volunteer.process.poll() is None
        assert volunteer.terminate() == 0
    finally:
        volunteer.close()

    assert line["outcome"] == "failed"
    assert "killed by signal 9" in line["error"]
    assert line["destination"] == f"{collector.url}/api/v1"


@pytest.mark.integration
def test_reports_repeat_once_per_period_each_in_a_child_of_its_own(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "--cluster-id=c", "--period=1s", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    children: set[int] = set()

    def three_reports() -> bool:
        children.update(child.pid for child in volunteer.children())
        return len(collector.reports()) >= 3

    try:
        wait_until(three_reports, timeout=90, what="three reports")
        assert volunteer.terminate() == 0
    finally:
        volunteer.close()

    delivered = [line for line in volunteer.reports() if line["outcome"] == "delivered"]
    assert len(delivered) == len(collector.reports())
    assert len(children) >= 2  # sampled: every report that was seen running ran in a process of its own


def test_a_handover_survives_the_trip_through_the_environment() -> None:
    handover = Handover.of(
        {"cluster_id": "auto", "database": "https://user:secret@collector.example.com", "gzip": True},
        cluster_id="c",
        destination="https://user:secret@collector.example.com/api/v1",
        period_s=86400.0,
    )

    assert Handover.from_environ({ENV_VAR: handover.to_json()}) == handover
    assert 0 <= handover.slot_s < handover.period_s


@pytest.mark.parametrize("environ", [{}, {ENV_VAR: "{}"}, {ENV_VAR: "not json"}])
def test_a_missing_or_malformed_handover_is_a_handover_error(environ: dict[str, str]) -> None:
    with pytest.raises(HandoverError, match=ENV_VAR):
        Handover.from_environ(environ)


@pytest.mark.integration
@pytest.mark.parametrize("module", ["volunteer.periodic", "volunteer.report_child"])
def test_the_periodic_processes_started_by_hand_say_how_to_start_the_volunteer(module: str, tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415  # only this test runs the module directly

    result = subprocess.run(
        [sys.executable, "-m", module],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"spartakus volunteer: error: ${ENV_VAR} is not set: start the volunteer with 'spartakus volunteer'"
    )


@pytest.mark.integration
def test_with_a_stop_event_of_its_own_the_volunteer_runs_its_schedule_in_process(
    kubeconfig: Path, collector: CollectorStandIn
) -> None:
    # The path for platforms without sigtimedwait, and for callers that embed the volunteer.
    settings = load_settings(
        VolunteerSettings,
        ["--cluster-id=auto", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"],
    )
    stop = threading.Event()
    outcome: list[int] = []
    runner = threading.Thread(target=lambda: outcome.append(run_volunteer(settings, stop=stop)))
    runner.start()
    try:
        [request] = collector.wait_for_reports(1, timeout=60)
    finally:
        stop.set()
        runner.join(timeout=30)

    assert outcome == [0]
    assert request.json()["clusterID"] == cluster_id_from_uid(KUBE_SYSTEM_UID)


def test_in_process_reports_at_start_then_stops_promptly_when_asked_during_the_wait() -> None:
    stop = threading.Event()
    reports: list[float] = []

    def report() -> None:
        reports.append(time.monotonic())
        threading.Timer(0.1, stop.set).start()  # SIGTERM arriving while the loop waits a day

    started = time.monotonic()
    run_in_process(report, period=DAY, cluster_id="c", stop=stop, rng=random.Random(1))  # noqa: S311  # jitter
    elapsed = time.monotonic() - started

    assert len(reports) == 1
    assert reports[0] - started < 0.5
    assert elapsed < 2


def test_in_process_reports_repeat_once_per_period() -> None:
    stop = threading.Event()
    reports: list[float] = []

    def report() -> None:
        reports.append(time.time())
        if len(reports) == 3:
            stop.set()

    run_in_process(report, period=0.2, cluster_id="c", stop=stop, rng=random.Random(1))  # noqa: S311  # jitter

    gaps = [b - a for a, b in itertools.pairwise(reports)]
    assert len(reports) == 3
    assert all(0.1 <= gap <= 0.45 for gap in gaps), gaps


def test_in_process_a_stop_before_start_makes_no_report() -> None:
    stop = threading.Event()
    stop.set()
    calls: list[int] = []

    run_in_process(lambda: calls.append(1), period=DAY, cluster_id="c", stop=stop)

    assert calls == []
