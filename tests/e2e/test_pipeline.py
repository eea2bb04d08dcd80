"""A volunteer's report of a 50-node cluster travels the whole pipeline, every component a real process.

Kubernetes API stand-in -> ``spartakus volunteer --period=0`` -> ``spartakus
ingest`` -> RabbitMQ (the test's own queue) -> ``spartakus writer`` -> BigQuery
(the emulator, two writers) or DuckDB (one writer: one writer process per
file). The stored row is read back with the store's own client and compared
with what the test computed from the Node objects it served.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import duckdb
import pytest

from tests.e2e.conftest import BigQueryStore
from tests.e2e.expected import COLUMNS, by_key, expected_node, with_column_names, within, without_empty
from tests.support.k8s_api import DEFAULT_GIT_VERSION, KubeApiStandIn, write_kubeconfig
from tests.support.k8s_nodes import generate_nodes
from tests.support.pipeline import Gateway, Pipeline, rows_written
from tests.support.processes import SpartakusProcess
from tests.support.services import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

NODE_COUNT: Final = 50
PAGE_SIZE: Final = 20
"""Smaller than the cluster, so the volunteer pages through the node list."""
VOLUNTEER_TIMEOUT: Final = 90.0
STORE_TIMEOUT: Final = 60.0
EXTENSION_FILES: Final = {
    "team.json": {"example.com/team": "platform", "example.com/replicas": 3},
    "site.json": {"environment": "e2e", "example.com/labels": {"tier": "gold", "zone": "b"}},
}
EXPECTED_EXTENSIONS: Final = [
    {"name": "example.com/team", "value": "platform"},
    {"name": "example.com/replicas", "value": "3"},
    {"name": "environment", "value": "e2e"},
    {"name": "example.com/labels", "value": '{"tier":"gold","zone":"b"}'},
]


@dataclass(frozen=True)
class SentReport:
    """What the test served and when the volunteer ran."""

    cluster_id: str
    nodes: list[dict[str, Any]]
    started: float
    finished: float


@pytest.fixture
def cluster() -> Iterator[KubeApiStandIn]:
    """An API server stand-in with 50 nodes of every flavour (GKE, EKS, AKS, kind, bare metal)."""
    with KubeApiStandIn(list(generate_nodes(NODE_COUNT))) as api:
        yield api


def configmap_extensions(directory: Path) -> Path:
    """Extension files laid out as a mounted ConfigMap: ``..data`` -> a timestamped dir, one symlink per key."""
    data = directory / "..2026_11_27_09_30_12.123456789"
    data.mkdir(parents=True)
    for name, content in EXTENSION_FILES.items():
        (data / name).write_text(json.dumps(content))
    os.symlink(data.name, directory / "..data")
    for name in EXTENSION_FILES:
        os.symlink(f"..data/{name}", directory / name)
    return directory


def exit_code(process: SpartakusProcess, timeout: float) -> int:
    """Wait for ``process`` to exit by itself."""
    assert process.process is not None
    return process.process.wait(timeout=timeout)


def run_volunteer(pipeline: Pipeline, api: KubeApiStandIn, gateway: Gateway, tmp_path: Path) -> SentReport:
    """``spartakus volunteer --period=0`` against the stand-in and the gateway; it must exit 0."""
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    extensions = configmap_extensions(tmp_path / "extensions")
    cluster_id = str(uuid.uuid4())
    started = time.time()
    volunteer = pipeline.start(
        "volunteer",
        [
            "volunteer",
            f"--cluster-id={cluster_id}",
            "--period=0",
            f"--kubeconfig={kubeconfig}",
            f"--database={gateway.url}",
            f"--extensions={extensions}",
            f"--page-size={PAGE_SIZE}",
        ],
    )
    assert exit_code(volunteer, VOLUNTEER_TIMEOUT) == 0, "the volunteer reported a failure"
    pages = [r for r in api.list_requests() if r.query.get("limit") == str(PAGE_SIZE)]
    assert len(pages) == -(-NODE_COUNT // PAGE_SIZE), "the volunteer did not page through the node list"
    return SentReport(cluster_id, api.nodes, started, time.time())


def assert_stored(row: dict[str, Any], sent: SentReport) -> None:
    """Every column of the stored row holds what the volunteer read from the cluster."""
    stored = without_empty(with_column_names(row))
    assert set(stored) == set(COLUMNS)
    assert stored["version"] == "v" + metadata.version("spartakus")
    assert int(sent.started) <= int(stored["timestamp"]) <= sent.finished
    assert stored["clusterID"] == sent.cluster_id
    assert stored["masterVersion"] == DEFAULT_GIT_VERSION
    assert stored["reportID"].startswith("sha256-")
    assert within(stored["receivedAt"], sent.started, sent.finished)
    assert len(stored["nodes"]) == NODE_COUNT
    assert by_key(stored["nodes"], "id") == by_key([expected_node(n) for n in sent.nodes], "id")
    assert {node["cloudProvider"] for node in stored["nodes"]} == {"gce", "aws", "azure", "unknown"}
    assert by_key(stored["extensions"], "name") == by_key(EXPECTED_EXTENSIONS, "name")


def test_volunteer_report_reaches_bigquery_through_two_writers_with_every_field(
    pipeline: Pipeline, bigquery_store: BigQueryStore, cluster: KubeApiStandIn, tmp_path: Path
) -> None:
    gateway = pipeline.ingest()
    for name in ("writer-1", "writer-2"):
        pipeline.writer(name, bigquery_store.database, "--batch-max-wait=200ms", env=bigquery_store.writer_env)

    sent = run_volunteer(pipeline, cluster, gateway, tmp_path)

    rows = bigquery_store.wait_for_cluster(sent.cluster_id, timeout=STORE_TIMEOUT)
    assert len(rows) == 1
    assert_stored(rows[0], sent)


def test_volunteer_report_reaches_duckdb_with_every_field(
    pipeline: Pipeline, cluster: KubeApiStandIn, tmp_path: Path
) -> None:
    database = tmp_path / "store" / "x.duckdb"
    database.parent.mkdir()
    gateway = pipeline.ingest()
    metrics_port = pipeline.writer("writer", f"duckdb:///{database}", "--batch-max-wait=200ms")

    sent = run_volunteer(pipeline, cluster, gateway, tmp_path)
    wait_until(lambda: rows_written(metrics_port, "duckdb") >= 1, timeout=STORE_TIMEOUT, what="the writer's first row")
    # DuckDB lets one process open the file for writing; the test reads it once the writer has let go.
    assert pipeline.processes["writer"].stop() == 0

    with duckdb.connect(str(database), read_only=True) as connection:
        cursor = connection.execute('SELECT * FROM reports_dedup WHERE "clusterID" = ?', [sent.cluster_id])
        names = [column[0] for column in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert len(rows) == 1
    assert_stored(rows[0], sent)
