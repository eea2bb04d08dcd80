"""End-to-end fixtures: the BigQuery emulator as a process, each test's own processes, log tails on failure.

Every process a test starts goes through its ``pipeline``, which stops them
all at the end of the test; when a test fails, the tail of each process's log
is added to its report.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from tests.support.bqemulator_process import CALL_RETRY, CALL_TIMEOUT, EmulatorProcess, emulator_client, query_rows
from tests.support.pipeline import Pipeline
from tests.support.services import wait_until

PIPELINE: pytest.StashKey[Pipeline] = pytest.StashKey()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Add the tail of every process log of a failing test to its report."""
    del call
    report = yield
    pipeline = item.stash.get(PIPELINE, None)
    if pipeline is not None and report.failed:
        report.sections.append(("process logs (last lines)", pipeline.log_tails()))
    return report


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """One BigQuery emulator process for the e2e tests; each test uses a dataset of its own."""
    process = EmulatorProcess(log_path=tmp_path_factory.mktemp("bqemulator") / "bqemulator.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def pipeline(request: pytest.FixtureRequest, amqp_url: str, queue_name: str, tmp_path: Path) -> Iterator[Pipeline]:
    """This test's processes on its own queue; all stopped at the end, logs under ``tmp_path``."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    running = Pipeline(amqp_url, queue_name, log_dir)
    request.node.stash[PIPELINE] = running
    try:
        yield running
    finally:
        running.stop_all()


@dataclass
class BigQueryStore:
    """A dataset of the test's own on the emulator, the writers' ``--database`` for it, and a client to read it."""

    client: bigquery.Client
    dataset: str
    endpoint: str
    write_endpoint: str

    @property
    def database(self) -> str:
        """The writers' ``--database``."""
        return f"bigquery://{self.dataset}.reports"

    @property
    def table(self) -> str:
        """The reports table."""
        return f"{self.dataset}.reports"

    @property
    def view(self) -> str:
        """The dedup view the writer creates beside the table."""
        return f"{self.dataset}.reports_dedup"

    @property
    def writer_env(self) -> dict[str, str]:
        """Environment of a writer process that talks to the emulator."""
        return {"BIGQUERY_EMULATOR_HOST": self.endpoint, "SPARTAKUS_BIGQUERY_WRITE_ENDPOINT": self.write_endpoint}

    def query(self, sql: str, **params: str) -> list[dict[str, Any]]:
        """Rows of ``sql`` (string parameters as ``@name``), as dicts; none while the table does not exist yet."""
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter(name, "STRING", value) for name, value in params.items()]
        )
        try:
            return [dict(row.items()) for row in query_rows(self.client, sql, config)]
        except NotFound:
            return []

    def wait_for_cluster(self, cluster_id: str, *, timeout: float) -> list[dict[str, Any]]:
        """The dedup view's rows of ``cluster_id``, as soon as there is one."""
        sql = f"SELECT * FROM `{self.view}` WHERE clusterID = @cluster"  # noqa: S608  # the test's own names
        rows: list[dict[str, Any]] = []

        def stored() -> bool:
            rows[:] = self.query(sql, cluster=cluster_id)
            return bool(rows)

        wait_until(stored, timeout=timeout, what=f"cluster {cluster_id} in the BigQuery dedup view")
        return rows


@pytest.fixture
def bigquery_store(emulator: EmulatorProcess, pipeline: Pipeline) -> Iterator[BigQueryStore]:
    """A dataset name of this test's own (the writers create it); deleted afterwards."""
    if emulator.log_path is not None:
        pipeline.extra_logs["bqemulator"] = emulator.log_path
    if not emulator.running():
        pytest.fail(f"the BigQuery emulator process has exited:\n{emulator.log_tail()}", pytrace=False)
    client = emulator_client(emulator.endpoint)
    dataset = f"{client.project}.e2e_{uuid.uuid4().hex[:12]}"
    try:
        yield BigQueryStore(client, dataset, emulator.endpoint, emulator.write_endpoint)
    finally:
        pipeline.stop_all()  # the writers first: a writer recreates a dataset that vanishes under it
        client.delete_dataset(dataset, delete_contents=True, not_found_ok=True, retry=CALL_RETRY, timeout=CALL_TIMEOUT)
        client.close()  # type: ignore[no-untyped-call]
