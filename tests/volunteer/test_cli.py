"""``spartakus volunteer`` / ``python -m volunteer`` as processes: exit codes, stdout, logs, old args, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from schema.report import parse_report
from tests.support.collector import CollectorStandIn, Reply, go_decode_error

pytestmark = pytest.mark.integration

SPARTAKUS = str(Path(sys.executable).with_name("spartakus"))
MODULE = [sys.executable, "-m", "volunteer"]


def _env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without anything that would point the volunteer elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SPARTAKUS_", "KUBERNETES_")) and k not in {"KUBECONFIG", "COVERAGE_PROCESS_START"}
    }
    return {**env, "HOME": str(home), **extra}


def _run(command: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def _log_lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


def _report_line(stderr: str) -> dict[str, Any]:
    [line] = [entry for entry in _log_lines(stderr) if entry["message"] == "report"]
    return line


def test_old_go_style_args_deliver_one_report_and_exit_0(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "-cluster-id=2f9c93d3", "-period=0", f"-database={collector.url}", f"-kubeconfig={kubeconfig}"]

    started = time.monotonic()
    result = _run(command, _env(tmp_path))
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    [request] = collector.reports()
    assert len(request.json()["nodes"]) == 5
    line = _report_line(result.stderr)
    assert (line["outcome"], line["nodes"], line["bytes"]) == ("delivered", 5, len(request.body))
    # Seconds (not milliseconds), within the process's lifetime; listing nodes and a POST take some time.
    assert 0 < line["duration_s"] < elapsed


def test_stdout_prints_exactly_one_report_that_an_original_collector_accepts(kubeconfig: Path, tmp_path: Path) -> None:
    env = _env(tmp_path, KUBECONFIG=str(kubeconfig), SPARTAKUS_CLUSTER_ID="from-env", SPARTAKUS_PERIOD="0")

    result = _run([SPARTAKUS, "volunteer", "--database=stdout"], env)

    assert result.returncode == 0, result.stderr
    body = result.stdout.encode()
    assert body.endswith(b"}\n")
    assert body.count(b"\n") == 1
    assert go_decode_error(body) is None
    report = parse_report(body)
    assert report.cluster_id == "from-env"
    assert report.nodes is not None
    assert len(report.nodes) == 5
    assert _report_line(result.stderr)["bytes"] == len(body) - 1


def test_a_rejected_one_shot_report_exits_1(kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path) -> None:
    collector.script(Reply(422, b'{"error": "invalid report"}'))
    command = [*MODULE, "--cluster-id=c", "--period=0", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]

    result = _run(command, _env(tmp_path))

    assert result.returncode == 1
    assert len(collector.reports()) == 1
    assert _report_line(result.stderr)["outcome"] == "rejected"


def test_a_one_shot_report_that_never_gets_through_exits_1(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    collector.script(*[Reply(503, b"unavailable")] * 5)
    command = [
        *MODULE,
        "--cluster-id=c",
        "--period=0",
        "--retry-budget=500ms",  # less than the first backoff: one attempt, then give up
        f"--database={collector.url}",
        f"--kubeconfig={kubeconfig}",
    ]

    result = _run(command, _env(tmp_path))

    assert result.returncode == 1
    assert len(collector.reports()) == 1
    line = _report_line(result.stderr)
    assert (line["outcome"], line["attempts"]) == ("failed", 1)
    assert "HTTP 503" in line["error"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--database=stdout"], "--cluster-id: Field required"),
        (["--cluster-id=c", "--period=often"], "--period"),
        (["--cluster-id=c", "--database=collector.example.com"], "--database"),
        (["--cluster-id=c"], "no usable Kubernetes configuration"),
    ],
)
def test_configuration_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = _run([*MODULE, *args], _env(tmp_path))

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("spartakus volunteer: error: ")
    assert message in line
    assert result.stdout == ""


def test_sigterm_ends_a_periodic_volunteer_promptly_with_exit_0(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "--cluster-id=c", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        collector.wait_for_reports(1, timeout=30)  # the report at start
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert [entry["message"] for entry in _log_lines(stderr)][-1] == "volunteer stopped"


def test_version_answers_without_a_cluster_id(tmp_path: Path) -> None:
    result = _run([SPARTAKUS, "volunteer", "--version"], _env(tmp_path))

    assert result.returncode == 0
    assert result.stdout.startswith("spartakus-volunteer version v2.")
