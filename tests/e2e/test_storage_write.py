"""Reports reach BigQuery through the Storage Write API, end to end, through an outage of BigQuery.

A real gateway and RabbitMQ, a writer process with its defaults (the Storage
Write API's default stream) on an emulator process of the test's own, whose
REST endpoint sits behind a proxy that records every insertAll request. Small
reports, a 30,000-node report (stored in parts) and a CJK one go through;
the emulator is stopped while some are on their way and started again empty.
Every report must be stored whole, nothing dead-lettered, and no insertAll
request sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, Final

import pytest

from tests.support.big_reports import CJK_OS_IMAGE, DEFAULT_OS_IMAGE, go_body, go_volunteer_report
from tests.support.bq_limit_proxy import limit_proxy
from tests.support.bqemulator_process import EmulatorProcess, emulator_client, query_rows
from tests.support.pipeline import JSON_HEADERS, Gateway, Pipeline, rows_written, writer_metric
from tests.support.services import wait_until
from tests.support.writer_load import queue_counts

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

STORE_TIMEOUT: Final = 300.0


@pytest.fixture
def own_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """An emulator process this test may stop and start."""
    process = EmulatorProcess(log_path=tmp_path_factory.mktemp("bqemulator") / "bqemulator.log")
    process.start()
    yield process
    process.stop()


def post_reports(gateway: Gateway, shapes: list[tuple[int, str]]) -> dict[str, int]:
    """POST Go volunteer reports of ``(nodes, osImage)``; returns cluster id -> nodes sent."""
    sent: dict[str, int] = {}
    for nodes, os_image in shapes:
        report = go_volunteer_report(nodes, os_image=os_image)
        answer = gateway.request("POST", "/api/v1", go_body(report), JSON_HEADERS)
        assert answer.status == 204, (answer.status, answer.body[:500])
        sent[report["clusterID"]] = nodes
    return sent


def node_counts(emulator: EmulatorProcess, dataset: str) -> dict[str, tuple[int, int]]:
    """Cluster id -> (nodes, distinct node ids) in the dedup view."""
    sql = (
        f"SELECT clusterID, COUNT(n.id), COUNT(DISTINCT n.id) FROM `{dataset}.reports_dedup`, "  # noqa: S608  # the test's own names
        "UNNEST(nodes) AS n GROUP BY 1"
    )
    rows: list[Any] = query_rows(emulator_client(emulator.endpoint), sql)
    return {row[0]: (row[1], row[2]) for row in rows}


def test_reports_small_and_split_reach_bigquery_through_the_write_api_across_an_outage_without_insert_all(
    pipeline: Pipeline, own_emulator: EmulatorProcess
) -> None:
    if own_emulator.log_path is not None:
        pipeline.extra_logs["bqemulator"] = own_emulator.log_path
    dataset = f"{emulator_client(own_emulator.endpoint).project}.e2e_{uuid.uuid4().hex[:12]}"
    with limit_proxy(own_emulator.endpoint) as rest:
        env = {
            "BIGQUERY_EMULATOR_HOST": rest.endpoint,
            "SPARTAKUS_BIGQUERY_WRITE_ENDPOINT": own_emulator.write_endpoint,
        }
        port = pipeline.writer("writer", f"bigquery://{dataset}.reports", "--batch-max-wait=200ms", env=env)
        gateway = pipeline.ingest()
        sent = post_reports(gateway, [(3, DEFAULT_OS_IMAGE)] * 20)
        wait_until(
            lambda: rows_written(port, "bigquery") >= 20, timeout=STORE_TIMEOUT, what="reports before the outage"
        )
        assert node_counts(own_emulator, dataset) == {cluster: (nodes, nodes) for cluster, nodes in sent.items()}

        own_emulator.stop()
        sent |= post_reports(
            gateway, [(30_000, DEFAULT_OS_IMAGE), (3_000, CJK_OS_IMAGE), *[(3, DEFAULT_OS_IMAGE)] * 10]
        )
        wait_until(
            lambda: writer_metric(port, "spartakus_writer_store_unreachable") == 1,
            timeout=60,
            what="the writer holding its batch through the outage",
        )
        assert rows_written(port, "bigquery") == 20
        own_emulator.start()  # empty: the writer creates the dataset, table and view again

        wait_until(
            lambda: rows_written(port, "bigquery") >= len(sent), timeout=STORE_TIMEOUT, what="every report written"
        )
        assert rest.sizes == [], "no insertAll request"
    assert queue_counts(pipeline.amqp_url, f"{pipeline.queue}.dead")[0] == 0
    # The emulator lost what it held before its restart; everything sent during the outage is there, whole.
    after_restart = list(sent.items())[20:]
    assert node_counts(own_emulator, dataset) == {cluster: (nodes, nodes) for cluster, nodes in after_restart}
    client = emulator_client(own_emulator.endpoint)
    view = f"{dataset}.reports_dedup"
    cjk = query_rows(client, f"SELECT COUNT(*) FROM `{view}`, UNNEST(nodes) AS n WHERE n.osImage = '{CJK_OS_IMAGE}'")  # noqa: S608
    assert cjk[0][0] == 3_000
    parts = query_rows(client, f"SELECT COUNT(*) FROM `{view}` WHERE part IS NOT NULL")  # noqa: S608
    assert parts[0][0] >= 2
    client.delete_dataset(dataset, delete_contents=True, not_found_ok=True)
