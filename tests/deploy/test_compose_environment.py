"""The environment compose.yaml gives ingest and the writer runs the real pipeline, into the emulator compose builds.

Without a Docker engine, the services run here as processes: ingest and a writer with compose's ``environment`` and
``command`` (only the host names and ports of the compose network are mapped to this machine's), the BigQuery
emulator through its image's launcher. A report POSTed to ingest lands in the table the writer's
``SPARTAKUS_DATABASE`` names, read back with the official client.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api_core.exceptions import NotFound

from tests.deploy.launcher import launch, ready
from tests.deploy.reports import post_go_volunteer_report
from tests.support.bqemulator_process import emulator_client, query_rows
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.integration

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310  # a local http:// URL
            return int(response.status) == 200
    except OSError:
        return False


def local_environment(service: dict[str, Any], **overrides: str) -> dict[str, str]:
    """The service's compose environment, with the compose network's addresses replaced by ``overrides``.

    ``${NAME:-default}`` takes its default, as compose does when ``NAME`` is unset.
    """
    environment = {
        name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)) for name, value in service["environment"].items()
    }
    return {**os.environ, **environment, **overrides}


class Started:
    """Processes started by a test; stopped with SIGTERM, like ``docker compose stop``, and their exit codes kept."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, service: dict[str, Any], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "spartakus", *service["command"]], stdout=out, stderr=subprocess.STDOUT, env=env
            )
        self.processes.append(process)
        return process

    def stop(self) -> list[int]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=30))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append(process.wait())
        return codes


@pytest.fixture
def started() -> Iterator[Started]:
    processes = Started()
    yield processes
    processes.stop()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The emulator as the compose ``bigquery`` service runs it (its launcher), offline: spatial off; its REST
    endpoint and its gRPC ``host:port``."""
    port, grpc_port = free_port(), free_port()
    process = launch(tmp_path, port, grpc_port, BQEMULATOR_EXTENSIONS="off", BQEMU_DEFAULT_PROJECT_ID="spartakus-local")
    try:
        wait_until(lambda: ready(port) or process.poll() is not None, timeout=60, what="the emulator")
        assert process.poll() is None, "the emulator exited"
        yield f"http://127.0.0.1:{port}", f"127.0.0.1:{grpc_port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_compose_environment_carries_a_report_from_ingest_through_rabbitmq_into_bigquery(
    amqp_url: str, queue_name: str, emulator: tuple[str, str], started: Started, tmp_path: Path
) -> None:
    rest, grpc = emulator
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    ingest, writer = services["ingest"], services["writer"]
    port, metrics = free_port(), free_port()
    # Only the compose network's addresses change: the broker, the queue of this test, ports free here.
    network = {"SPARTAKUS_AMQP_URL": amqp_url, "SPARTAKUS_QUEUE": queue_name}
    started.start(ingest, local_environment(ingest, **network, SPARTAKUS_PORT=str(port)), tmp_path / "ingest.log")
    writer_env = local_environment(
        writer,
        **network,
        SPARTAKUS_METRICS_PORT=str(metrics),
        BIGQUERY_EMULATOR_HOST=rest,
        SPARTAKUS_BIGQUERY_WRITE_ENDPOINT=grpc,
    )
    started.start(writer, writer_env, tmp_path / "writer.log")
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/readyz"), timeout=60, what="ingest /readyz")
    wait_until(lambda: answers(f"http://127.0.0.1:{metrics}/metrics"), timeout=60, what="writer /metrics")
    cluster_id = str(uuid.uuid4())

    assert post_go_volunteer_report(port, cluster_id) == 204

    table = writer["environment"]["SPARTAKUS_DATABASE"].removeprefix("bigquery://")
    project = table.split(".")[0]
    client = emulator_client(rest, project)

    def stored() -> list[tuple[str, str]]:
        try:
            rows = query_rows(client, f"SELECT clusterID, version FROM `{table}`")  # noqa: S608  # compose's table
        except NotFound:  # the dataset and table appear with the writer's first batch
            return []
        return [(row["clusterID"], row["version"]) for row in rows]

    wait_until(lambda: stored() == [(cluster_id, "v1.1.0")], timeout=60, what=f"the report in {table}")
    ingest_code, writer_code = started.stop()
    assert writer_code == 0
    assert ingest_code in {0, -signal.SIGTERM}, "uvicorn re-raises the SIGTERM it handled once it has shut down"
