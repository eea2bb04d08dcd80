"""Nobody but the cluster can change its figures: a signed cluster's report against forgeries, through every part.

Kubernetes API stand-in -> ``spartakus volunteer --cluster-id=auto`` (signs)
-> ``spartakus ingest`` -> RabbitMQ -> ``spartakus writer`` -> DuckDB. Another
client, which knows the cluster id and everything the volunteer sent but not
the key, then tries every forgery; each is refused, and the store keeps the
real figures only. For unsigned ids, two different reports with the same
cluster and timestamp are stored as two reports, never merged.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import duckdb
import pytest

from schema.report import derive_report_id, parse_report
from schema.signature import HEADER, ClusterKey
from tests.support.k8s_api import DEFAULT_GIT_VERSION, KUBE_SYSTEM_UID, KubeApiStandIn, write_kubeconfig
from tests.support.k8s_nodes import generate_nodes
from tests.support.pipeline import Gateway, Pipeline, rows_written
from tests.support.processes import SpartakusProcess
from tests.support.services import wait_until
from volunteer.identity import cluster_id_from_uid
from writer.duckdb_sink import latest_reports

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NODE_COUNT: Final = 7
STORE_TIMEOUT: Final = 60.0
VOLUNTEER_TIMEOUT: Final = 90.0
ATTACKER: Final = ClusterKey("the attacker's own made-up uid")
JSON: Final = {"Content-Type": "application/json"}


@pytest.fixture
def cluster() -> Iterator[KubeApiStandIn]:
    with KubeApiStandIn(list(generate_nodes(NODE_COUNT))) as api:
        yield api


def post(gateway: Gateway, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=30)
    try:
        connection.request("POST", "/api/v1", body=body, headers=dict(headers))
        answer = connection.getresponse()
        data = answer.read()
        return answer.status, json.loads(data) if data else {}
    finally:
        connection.close()


def what_the_volunteer_would_send(kubeconfig: Path) -> tuple[str, bytes]:
    """``--database=stdout``: the signature header line, then the body, exactly as they would be POSTed."""
    command = [sys.executable, "-m", "spartakus", "volunteer", "--cluster-id=auto", "--period=0"]
    command += ["--database=stdout", f"--kubeconfig={kubeconfig}"]
    done = subprocess.run(command, capture_output=True, timeout=VOLUNTEER_TIMEOUT, check=True)
    header_line, body = done.stdout.rstrip(b"\n").split(b"\n")
    name, _, value = header_line.decode().partition(": ")
    assert name == HEADER
    assert b"PRIVATE" not in done.stderr.upper()
    return value, body


def test_forgeries_of_a_signed_cluster_are_refused_and_the_store_keeps_its_real_figures(
    pipeline: Pipeline, cluster: KubeApiStandIn, tmp_path: Path
) -> None:
    database = tmp_path / "store.duckdb"
    gateway = pipeline.ingest()
    metrics_port = pipeline.writer("writer", f"duckdb:///{database}", "--batch-max-wait=200ms")
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    cluster_id = cluster_id_from_uid(KUBE_SYSTEM_UID)

    volunteer = pipeline.start(
        "volunteer",
        ["volunteer", "--cluster-id=auto", "--period=0", f"--kubeconfig={kubeconfig}", f"--database={gateway.url}"],
    )
    assert isinstance(volunteer, SpartakusProcess)
    assert volunteer.process is not None
    assert volunteer.process.wait(timeout=VOLUNTEER_TIMEOUT) == 0
    wait_until(lambda: rows_written(metrics_port, "duckdb") >= 1, timeout=STORE_TIMEOUT, what="the real report")
    signature, real_body = what_the_volunteer_would_send(kubeconfig)
    real = json.loads(real_body)
    assert real["clusterID"] == cluster_id
    fake = {**real, "masterVersion": "v1.9.9", "nodes": real["nodes"] * 100}
    later = {**fake, "timestamp": str(int(real["timestamp"]) + 3600)}
    stale = {**real, "timestamp": str(int(real["timestamp"]) - 20 * 86400), "masterVersion": "v1.0.0"}

    forgeries = {
        "a later timestamp, unsigned": (later, JSON),
        "a later timestamp, signed by another key": (later, {**JSON, HEADER: ATTACKER.header(_bytes(later))}),
        "the same timestamp, signed by another key": (fake, {**JSON, HEADER: ATTACKER.header(_bytes(fake))}),
        "an old timestamp, unsigned": (stale, JSON),
        "the real report's reportID, unsigned": ({**fake, "reportID": derive_report_id(parse_report(real_body))}, JSON),
        "the real request's own header on a changed body": (fake, {**JSON, HEADER: signature}),
    }
    answers = {name: post(gateway, _bytes(body), headers) for name, (body, headers) in forgeries.items()}

    assert {name: status for name, (status, _) in answers.items()} == {
        "a later timestamp, unsigned": 401,
        "a later timestamp, signed by another key": 403,
        "the same timestamp, signed by another key": 403,
        "an old timestamp, unsigned": 401,
        "the real report's reportID, unsigned": 401,
        "the real request's own header on a changed body": 403,
    }
    assert all(problem["error"] == "signature refused" for _, problem in answers.values())
    # The real request itself, replayed, is the same report: it merges with the stored copy.
    assert post(gateway, real_body, {**JSON, HEADER: signature})[0] == 204
    wait_until(lambda: rows_written(metrics_port, "duckdb") >= 2, timeout=STORE_TIMEOUT, what="the replayed report")
    assert pipeline.processes["writer"].stop() == 0

    [latest] = [r for r in latest_reports(str(database)) if r["clusterID"] == cluster_id]
    assert latest["verified"] is True
    assert latest["masterVersion"] == DEFAULT_GIT_VERSION
    assert len(latest["nodes"]) == NODE_COUNT
    with duckdb.connect(str(database), read_only=True) as connection:
        stored = connection.execute(
            'SELECT "masterVersion", len("nodes"), "verified", "reportID" FROM reports WHERE "clusterID" = ?',
            [cluster_id],
        ).fetchall()
    assert {row[:3] for row in stored} == {(DEFAULT_GIT_VERSION, NODE_COUNT, True)}
    assert len({row[3] for row in stored}) <= 2, "the volunteer's report and the stdout run's, nothing else"


def test_two_different_unsigned_reports_with_one_cluster_and_timestamp_are_two_reports(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    database = tmp_path / "store.duckdb"
    gateway = pipeline.ingest()
    metrics_port = pipeline.writer("writer", f"duckdb:///{database}", "--batch-max-wait=200ms")
    cluster_id, timestamp = str(uuid.uuid4()), str(int(time.time()) - 60)
    first = {"clusterID": cluster_id, "timestamp": timestamp, "masterVersion": "v1.31.1", "nodes": [{"id": "a"}] * 3}
    second = {**first, "masterVersion": "v1.9.9", "nodes": [{"id": "b"}] * 1000}

    assert post(gateway, _bytes(first), JSON)[0] == 204
    assert post(gateway, _bytes(second), JSON)[0] == 204
    assert post(gateway, _bytes(first), JSON)[0] == 204  # a retry of the first
    wait_until(lambda: rows_written(metrics_port, "duckdb") >= 3, timeout=STORE_TIMEOUT, what="three rows")
    assert pipeline.processes["writer"].stop() == 0

    with duckdb.connect(str(database), read_only=True) as connection:
        stored = connection.execute(
            'SELECT "reportID", "masterVersion", len("nodes"), "verified" FROM reports_dedup WHERE "clusterID" = ?',
            [cluster_id],
        ).fetchall()
    # Each stored report carries exactly the figures one sender sent: nothing was averaged or mixed.
    assert sorted(row[1:] for row in stored) == [("v1.31.1", 3, False), ("v1.9.9", 1000, False)]
    assert len({row[0] for row in stored}) == 2


def _bytes(report: Mapping[str, Any]) -> bytes:
    return json.dumps(report).encode()


def test_a_signed_volunteer_reporting_too_soon_waits_for_the_gateways_retry_after(
    pipeline: Pipeline, cluster: KubeApiStandIn, tmp_path: Path
) -> None:
    gateway = pipeline.ingest("--min-report-interval=15s", floods=True)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", cluster.url)
    command = ["volunteer", "--cluster-id=auto", "--period=0", f"--kubeconfig={kubeconfig}"]
    command += [f"--database={gateway.url}", "--retry-budget=60s"]
    codes, lines = [], []
    for name in ("first", "second"):
        process = pipeline.start(name, command)
        assert process.process is not None
        codes.append(process.process.wait(timeout=VOLUNTEER_TIMEOUT))
        lines.append(process.log_path.read_text())

    assert codes == [0, 0]
    assert "429" in lines[1], "the second report came within the interval and was told to wait"
    assert "429" not in lines[0]
    accepted = gateway.request("GET", "/metrics").body.decode()
    assert 'spartakus_ingest_reports_accepted_total{verified="true"} 2.0' in accepted
    assert 'spartakus_ingest_rate_limited_total{reason="cluster_interval"} 1.0' in accepted
