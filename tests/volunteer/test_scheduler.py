"""The periodic volunteer as processes: a small waiting process, one reporter process per report, and SIGTERM."""

from __future__ import annotations

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
from volunteer.app import run as run_volunteer
from volunteer.identity import cluster_id_from_uid
from volunteer.plan import ENV_VAR, Plan, PlanError
from volunteer.scheduler import STOP_GRACE_S
from volunteer.settings import VolunteerSettings

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
        what=f"{reports} report(s) logged and the reporter gone",
    )


@pytest.mark.integration
def test_between_reports_only_a_small_process_without_the_report_machinery_remains(
    started: VolunteerProcess, collector: CollectorStandIn
) -> None:
    _wait_idle(started)

    [request] = collector.reports()
    assert request.json()["clusterID"] == cluster_id_from_uid(KUBE_SYSTEM_UID)
    assert started.ps.cmdline()[1:] == ["-m", "volunteer.scheduler"]
    assert started.children() == []
    mapped = _mapped_files(started)
    assert [name for name in HEAVY_LIBRARIES if name in mapped] == []
    assert started.tree_rss() <= IDLE_RSS_LIMIT, f"{started.tree_rss() / 2**20:.1f} MiB"
    assert started.reports()[0]["outcome"] == "delivered"


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
    collector.script(Reply(204, delay=120))  # the POST hangs: the reporter is blocked in network I/O
    command = [*MODULE, "--cluster-id=c", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    try:
        collector.wait_for_reports(1, timeout=60)
        [reporter] = volunteer.children()

        began = time.monotonic()
        assert volunteer.terminate() == 0
        stopped_within = time.monotonic() - began
    finally:
        volunteer.close()

    assert stopped_within < STOP_GRACE_S + 3
    assert not reporter.is_running()
    [line] = volunteer.reports()
    assert line["outcome"] == "stopped"
    assert volunteer.lines()[-1]["message"] == "volunteer stopped"


@pytest.mark.integration
def test_a_reporter_that_dies_is_logged_for_it_and_the_volunteer_keeps_waiting(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    collector.script(Reply(204, delay=120))
    command = [*MODULE, "--cluster-id=c", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    try:
        collector.wait_for_reports(1, timeout=60)
        [reporter] = volunteer.children()
        reporter.send_signal(signal.SIGKILL)  # as the kernel's OOM killer would
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
def test_reports_repeat_once_per_period_each_in_a_reporter_of_its_own(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "--cluster-id=c", "--period=1s", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    volunteer = VolunteerProcess(command, clean_env(tmp_path), tmp_path / "stderr")
    reporters: set[int] = set()

    def three_reports() -> bool:
        reporters.update(child.pid for child in volunteer.children())
        return len(collector.reports()) >= 3

    try:
        wait_until(three_reports, timeout=90, what="three reports")
        assert volunteer.terminate() == 0
    finally:
        volunteer.close()

    delivered = [line for line in volunteer.reports() if line["outcome"] == "delivered"]
    assert len(delivered) == len(collector.reports())
    assert len(reporters) >= 2  # sampled: every report that was seen running ran in a process of its own


def test_a_plan_survives_the_trip_through_the_environment() -> None:
    plan = Plan(
        cluster_id="c",
        database="https://user:secret@collector.example.com",
        destination="https://user:secret@collector.example.com/api/v1",
        kubeconfig=None,
        extensions="/etc/spartakus/extensions",
        timeout_s=30.0,
        retry_s=77760.0,
        gzip=True,
        page_size=500,
        period_s=86400.0,
        slot_s=1234.5,
        debug=False,
    )

    assert Plan.from_environ({ENV_VAR: plan.to_json()}) == plan


@pytest.mark.parametrize("environ", [{}, {ENV_VAR: "{}"}, {ENV_VAR: "not json"}])
def test_a_missing_or_malformed_plan_is_a_plan_error(environ: dict[str, str]) -> None:
    with pytest.raises(PlanError, match=ENV_VAR):
        Plan.from_environ(environ)


@pytest.mark.integration
def test_the_scheduler_started_by_hand_says_how_to_start_the_volunteer(tmp_path: Path) -> None:
    import subprocess  # noqa: PLC0415  # only this test runs the module directly

    result = subprocess.run(
        [sys.executable, "-m", "volunteer.scheduler"],
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
