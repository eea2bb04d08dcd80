"""``spartakus volunteer`` / ``python -m volunteer`` as processes: exit codes, stdout, logs, old args, SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from schema.report import parse_report
from tests.support.collector import CollectorStandIn, Reply, go_decode_error
from tests.support.k8s_api import KUBE_SYSTEM_UID, KubeApiStandIn, make_tls_files, write_kubeconfig
from tests.support.k8s_nodes import sample_nodes
from tests.support.services import missing_service
from tests.volunteer.commands import MODULE, SPARTAKUS, clean_env, log_lines, report_lines, run
from volunteer.cluster import SERVICE_ACCOUNT_DIR
from volunteer.identity import cluster_id_from_uid

pytestmark = pytest.mark.integration


def _report_line(stderr: str) -> dict[str, Any]:
    [line] = report_lines(stderr)
    return line


def test_old_go_style_args_deliver_one_report_and_exit_0(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "-cluster-id=2f9c93d3", "-period=0", f"-database={collector.url}", f"-kubeconfig={kubeconfig}"]

    started = time.monotonic()
    result = run(command, clean_env(tmp_path))
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    [request] = collector.reports()
    assert len(request.json()["nodes"]) == 5
    line = _report_line(result.stderr)
    assert (line["outcome"], line["nodes"], line["bytes"]) == ("delivered", 5, len(request.body))
    # Seconds (not milliseconds), within the process's lifetime; listing nodes and a POST take some time.
    assert 0 < line["duration_s"] < elapsed


def test_stdout_prints_exactly_one_report_that_an_original_collector_accepts(kubeconfig: Path, tmp_path: Path) -> None:
    env = clean_env(tmp_path, KUBECONFIG=str(kubeconfig), SPARTAKUS_CLUSTER_ID="from-env", SPARTAKUS_PERIOD="0")

    result = run([SPARTAKUS, "volunteer", "--database=stdout"], env)

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

    result = run(command, clean_env(tmp_path))

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

    result = run(command, clean_env(tmp_path))

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
    result = run([*MODULE, *args], clean_env(tmp_path))

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("spartakus volunteer: error: ")
    assert message in line
    assert result.stdout == ""


def test_sigterm_ends_a_periodic_volunteer_promptly_with_exit_0(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "--cluster-id=c", "--period=1h", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env(tmp_path)
    )
    try:
        collector.wait_for_reports(1, timeout=30)  # the report at start
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0
    assert [entry["message"] for entry in log_lines(stderr)][-1] == "volunteer stopped"


def test_version_answers_without_a_cluster_id(tmp_path: Path) -> None:
    result = run([SPARTAKUS, "volunteer", "--version"], clean_env(tmp_path))

    assert result.returncode == 0
    assert result.stdout.startswith("spartakus-volunteer version v2.")


def test_cluster_id_auto_reports_the_id_derived_from_kube_system_through_a_kubeconfig(
    kubeconfig: Path, collector: CollectorStandIn, tmp_path: Path
) -> None:
    command = [*MODULE, "--cluster-id=auto", "--period=0", f"--database={collector.url}", f"--kubeconfig={kubeconfig}"]

    result = run(command, clean_env(tmp_path))

    assert result.returncode == 0, result.stderr
    [request] = collector.reports()
    assert request.json()["clusterID"] == cluster_id_from_uid(KUBE_SYSTEM_UID)
    started = next(line for line in log_lines(result.stderr) if line["message"] == "volunteer started")
    assert started["cluster_id"] == cluster_id_from_uid(KUBE_SYSTEM_UID)


@pytest.mark.parametrize("period", ["0", "24h"])
def test_cluster_id_auto_without_access_to_kube_system_exits_2_and_sends_nothing(
    collector: CollectorStandIn, tmp_path: Path, period: str
) -> None:
    with KubeApiStandIn(sample_nodes(), namespaces={}) as api:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        command = [*MODULE, "--cluster-id=auto", f"--period={period}", f"--database={collector.url}"]

        result = run([*command, f"--kubeconfig={kubeconfig}"], clean_env(tmp_path))

    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("spartakus volunteer: error: --cluster-id=auto: cannot read the kube-system namespace")
    assert "HTTP 404" in line
    assert "get on namespaces" in line
    assert collector.reports() == []


def test_cluster_id_auto_in_a_pod_reads_kube_system_with_the_service_account(
    collector: CollectorStandIn, tmp_path: Path
) -> None:
    # The pod's view: KUBERNETES_SERVICE_* set and the token and CA at the fixed service-account path, mounted here
    # in a mount namespace of the volunteer's own (a tmpfs over /run), so the machine's /run is never touched.
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        missing_service("mounting a service-account directory needs root and unshare")
    certfile, keyfile = make_tls_files(tmp_path)
    (tmp_path / "token").write_text("pod-token")
    mount = (
        'mount -t tmpfs tmpfs "$(readlink -f /var/run)" && mkdir -p "$SA" '
        '&& cp "$TOKEN_FILE" "$SA/token" && cp "$CA_FILE" "$SA/ca.crt" && exec "$@"'
    )
    with KubeApiStandIn(sample_nodes(), token="pod-token", tls=(certfile, keyfile)) as api:  # noqa: S106  # test token
        env = clean_env(
            tmp_path,
            KUBERNETES_SERVICE_HOST=api.host,
            KUBERNETES_SERVICE_PORT=str(api.port),
            SA=str(SERVICE_ACCOUNT_DIR),
            TOKEN_FILE=str(tmp_path / "token"),
            CA_FILE=str(certfile),
        )
        volunteer = [*MODULE, "--cluster-id=auto", "--period=0", f"--database={collector.url}"]

        result = run(["unshare", "--mount", "sh", "-c", mount, "sh", *volunteer], env)

    assert result.returncode == 0, result.stderr
    [request] = collector.reports()
    assert request.json()["clusterID"] == cluster_id_from_uid(KUBE_SYSTEM_UID)
    assert "/api/v1/namespaces/kube-system" in [r.path for r in api.requests]
    assert {r.authorization for r in api.requests} == {"bearer pod-token"}
    started = next(line for line in log_lines(result.stderr) if line["message"] == "volunteer started")
    assert started["cluster"] == "in-cluster config"
