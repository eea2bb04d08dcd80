"""The largest reports travel the whole pipeline through a RabbitMQ 4.x-sized broker, every node stored once.

A RabbitMQ node of the test's own refuses messages over 16 MiB, as RabbitMQ
4.x does by default. Into it go, through a real gateway: the Go volunteer's
uncompressed 65,000-node report, our volunteer's 65,000-node report with and
without ``--gzip``, a 30,000-node report and a 3,000-node report whose
``osImage`` is CJK text. A writer stores them in DuckDB, and another, on a
second queue, in BigQuery by insertAll (``--bigquery-api=insertall``) through a
proxy that refuses requests over 10,485,760 bytes as BigQuery does (the
Storage Write API's path: ``test_storage_write.py``). Each node must be
stored exactly once.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import pytest

from tests.e2e.conftest import PIPELINE
from tests.e2e.expected import expected_node
from tests.support.big_reports import CJK_OS_IMAGE, DEFAULT_OS_IMAGE, go_body, go_volunteer_report
from tests.support.bq_limit_proxy import LIMIT, limit_proxy
from tests.support.bqemulator_process import EmulatorProcess, emulator_client, query_rows
from tests.support.k8s_api import KubeApiStandIn, prebuild_pages, write_kubeconfig
from tests.support.k8s_nodes import generate_nodes
from tests.support.pipeline import JSON_HEADERS, Gateway, Pipeline, rows_written
from tests.support.rabbit_node import rabbit_node
from tests.support.services import wait_until
from tests.support.writer_load import queue_counts

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

LARGEST: Final = 65_000
PAGE_SIZE: Final = 500
STORE_TIMEOUT: Final = 600.0
RABBITMQ_4_CONFIG: Final = "max_message_size = 16777216\n"


@pytest.fixture(scope="module")
def small_broker() -> Iterator[str]:
    """A RabbitMQ node of the test's own that refuses messages over 16 MiB, as RabbitMQ 4.x does."""
    with rabbit_node(RABBITMQ_4_CONFIG) as url:
        yield url


@dataclass
class Cluster:
    """An API server stand-in with 65,000 nodes, and how many distinct node ids its volunteer reports."""

    api: KubeApiStandIn
    distinct_ids: int


@pytest.fixture(scope="module")
def largest_cluster() -> Iterator[Cluster]:
    """65,000 nodes of every flavour, their pages rendered once (some flavours repeat a node id, as clusters do)."""
    ids: set[str] = set()

    def nodes() -> Iterator[dict[str, Any]]:
        for node in generate_nodes(LARGEST):
            ids.add(expected_node(node)["id"])
            yield node

    with KubeApiStandIn(pages=prebuild_pages(nodes(), PAGE_SIZE)) as api:
        yield Cluster(api, len(ids))


@pytest.fixture
def pipeline(request: pytest.FixtureRequest, small_broker: str, tmp_path: Path) -> Generator[Pipeline, None, None]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    running = Pipeline(small_broker, f"e2e.large.{uuid.uuid4().hex[:12]}", log_dir)
    request.node.stash[PIPELINE] = running
    try:
        yield running
    finally:
        running.stop_all()


def post(gateway: Gateway, body: bytes) -> None:
    answer = gateway.request("POST", "/api/v1", body, JSON_HEADERS)
    assert answer.status == 204, (answer.status, answer.body[:500])


def run_volunteer(pipeline: Pipeline, api: KubeApiStandIn, gateway: Gateway, tmp_path: Path, *gzip: str) -> str:
    cluster_id = str(uuid.uuid4())
    kubeconfig = write_kubeconfig(tmp_path / f"kubeconfig-{cluster_id}", api.url)
    args = ["volunteer", f"--cluster-id={cluster_id}", "--period=0", f"--kubeconfig={kubeconfig}"]
    args += [f"--database={gateway.url}", f"--page-size={PAGE_SIZE}", "--timeout=120s", *gzip]
    volunteer = pipeline.start(f"volunteer{'-gzip' if gzip else ''}", args)
    assert volunteer.process is not None
    assert volunteer.process.wait(timeout=300) == 0, "the volunteer reported a failure"
    return cluster_id


def post_go_reports(gateway: Gateway, shapes: tuple[tuple[int, str], ...]) -> dict[str, tuple[int, int]]:
    """POST Go volunteer reports of ``(nodes, osImage)``; returns cluster id -> (nodes, distinct node ids) sent."""
    sent: dict[str, tuple[int, int]] = {}
    for nodes, os_image in shapes:
        report = go_volunteer_report(nodes, os_image=os_image)
        post(gateway, go_body(report))
        sent[report["clusterID"]] = (nodes, nodes)
    return sent


def send_everything(pipeline: Pipeline, cluster: Cluster, tmp_path: Path) -> dict[str, tuple[int, int]]:
    """Send the five reports through a gateway; returns cluster id -> (nodes, distinct node ids) sent."""
    gateway = pipeline.ingest()
    sent = post_go_reports(gateway, ((LARGEST, DEFAULT_OS_IMAGE), (30_000, DEFAULT_OS_IMAGE), (3_000, CJK_OS_IMAGE)))
    sent[run_volunteer(pipeline, cluster.api, gateway, tmp_path)] = (LARGEST, cluster.distinct_ids)
    sent[run_volunteer(pipeline, cluster.api, gateway, tmp_path, "--gzip")] = (LARGEST, cluster.distinct_ids)
    return sent


def test_the_largest_reports_reach_duckdb_through_a_16_mib_broker_with_every_node_once(
    pipeline: Pipeline, largest_cluster: Cluster, tmp_path: Path
) -> None:
    store = tmp_path / "reports.duckdb"
    port = pipeline.writer("writer", f"duckdb:///{store}")
    sent = send_everything(pipeline, largest_cluster, tmp_path)
    wait_until(lambda: rows_written(port, "duckdb") >= len(sent), timeout=STORE_TIMEOUT, what="every report written")
    assert queue_counts(pipeline.amqp_url, f"{pipeline.queue}.dead")[0] == 0
    pipeline.processes["writer"].stop()  # DuckDB lets a reader in once the writer has gone
    with duckdb.connect(str(store), read_only=True) as db:
        rows = db.execute(
            "SELECT clusterID, count(*), count(DISTINCT n.id) FROM (SELECT clusterID, unnest(nodes) AS n "
            "FROM reports_dedup) GROUP BY clusterID"
        ).fetchall()
        reports = db.execute("SELECT count(*) FROM reports_dedup WHERE coalesce(part, 0) = 0").fetchone()
        cjk = db.execute(
            "SELECT count(*) FROM (SELECT unnest(nodes) AS n FROM reports_dedup) WHERE n.osImage = ?", [CJK_OS_IMAGE]
        ).fetchone()
    assert {cluster: (count, distinct) for cluster, count, distinct in rows} == sent
    assert reports == (len(sent),)
    assert cjk == (3_000,)


def test_reports_split_into_parts_reach_bigquery_by_insert_all_through_a_16_mib_broker_and_its_request_limit(
    pipeline: Pipeline, emulator: EmulatorProcess
) -> None:
    # The emulator stores about a thousand nodes a second: the 30,000-node report (three parts) and the CJK one
    # (threefold once the client escapes it) stand for the rest here; the 65,000-node reports go to BigQuery
    # through the same sink in bench/writer_bench.py, and to DuckDB above.
    dataset = f"{emulator_client(emulator.endpoint).project}.e2e_{uuid.uuid4().hex[:12]}"
    with limit_proxy(emulator.endpoint) as proxy:
        env = {"BIGQUERY_EMULATOR_HOST": proxy.endpoint}
        port = pipeline.writer("writer", f"bigquery://{dataset}.reports", "--bigquery-api=insertall", env=env)
        sent = post_go_reports(pipeline.ingest(), ((30_000, DEFAULT_OS_IMAGE), (3_000, CJK_OS_IMAGE)))
        wait_until(
            lambda: rows_written(port, "bigquery") >= len(sent), timeout=STORE_TIMEOUT, what="every report written"
        )
        assert proxy.refused == []
        assert max(proxy.sizes) <= LIMIT
    assert queue_counts(pipeline.amqp_url, f"{pipeline.queue}.dead")[0] == 0
    client = emulator_client(emulator.endpoint)
    view = f"{dataset}.reports_dedup"
    rows: list[Any] = query_rows(
        client,
        f"SELECT clusterID, COUNT(n.id), COUNT(DISTINCT n.id) FROM `{view}`, UNNEST(nodes) AS n GROUP BY 1",  # noqa: S608  # the test's own names
    )
    assert {row[0]: (row[1], row[2]) for row in rows} == sent
    reports = query_rows(client, f"SELECT COUNT(*) FROM `{view}` WHERE COALESCE(part, 0) = 0")  # noqa: S608  # as above
    assert reports[0][0] == len(sent)
    client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
