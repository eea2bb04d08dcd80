"""The compose stack under test, as the suite in this directory drives it from the host.

``tests/compose/run.py`` (``make compose-test``) brings the stack up and passes its project name and host ports in
``SPARTAKUS_COMPOSE_*`` variables; ``Stack`` runs ``docker compose`` in that project, inspects its containers, reads
the broker's management API and the emulator's tables through the published ports.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from tests.support.bqemulator_process import emulator_client, query_rows

ROOT: Final = Path(__file__).resolve().parents[2]
PROJECT_ENV: Final = "SPARTAKUS_COMPOSE_PROJECT"
QUEUE: Final = "spartakus.reports"
BIGQUERY_PROJECT: Final = "spartakus-local"
TABLE: Final = f"{BIGQUERY_PROJECT}.spartakus.reports"
VIEW: Final = f"{TABLE}_dedup"
PORT_VARIABLES: Final = (
    "SPARTAKUS_INGEST_PORT",
    "RABBITMQ_PORT",
    "RABBITMQ_MANAGEMENT_PORT",
    "BIGQUERY_PORT",
    "SPARTAKUS_DASHBOARD_PORT",
)
COMMAND_TIMEOUT: Final = 300.0
VOLUNTEER_RUN: Final = ("--profile", "volunteer", "run", "--rm", "volunteer")
VOLUNTEER_ENV: Final = {"SPARTAKUS_CLUSTER_ID": "auto", "SPARTAKUS_PERIOD": "0"}
"""The README's one-shot volunteer: ``VOLUNTEER_ENV docker compose VOLUNTEER_RUN``."""


def compose_command(*args: str) -> list[str]:
    """The command line of ``docker compose ARGS``."""
    return ["docker", "compose", *args]


@dataclass(frozen=True)
class Stack:
    """One running compose project and the host ports it publishes."""

    project: str
    ports: dict[str, int]

    @classmethod
    def from_environment(cls) -> Stack | None:
        """The stack ``run.py`` started, or None when none was."""
        project = os.environ.get(PROJECT_ENV)
        if not project:
            return None
        return cls(project, {name: int(os.environ[name]) for name in PORT_VARIABLES})

    def compose(self, *args: str, env: dict[str, str] | None = None, timeout: float = COMMAND_TIMEOUT) -> str:
        """Run ``docker compose ARGS`` in this project; its output. A failure raises with what it printed."""
        result = subprocess.run(
            compose_command(*args),
            cwd=ROOT,
            env={**os.environ, "COMPOSE_PROJECT_NAME": self.project, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
        return result.stdout

    def containers(self, service: str) -> list[str]:
        """Ids of the service's containers, running or not."""
        return self.compose("ps", "--all", "--quiet", service).split()

    def inspect(self, container: str) -> dict[str, Any]:
        """``docker inspect`` of one container."""
        out = subprocess.run(
            ["docker", "inspect", container], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        found: dict[str, Any] = json.loads(out)[0]
        return found

    def docker(self, *args: str) -> None:
        """A plain ``docker`` command (``kill``...), which must succeed."""
        subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60, check=True)

    @property
    def ingest_port(self) -> int:
        return self.ports["SPARTAKUS_INGEST_PORT"]

    @property
    def dashboard_port(self) -> int:
        return self.ports["SPARTAKUS_DASHBOARD_PORT"]

    def management(self, path: str) -> Any:
        """A GET on the broker's management API (guest/guest), decoded."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.ports['RABBITMQ_MANAGEMENT_PORT']}/api/{path}",
            headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # a local http:// URL
            return json.loads(response.read())

    def queue(self) -> dict[str, Any]:
        """The reports queue as the management API describes it (consumers, messages...)."""
        found: dict[str, Any] = self.management(f"queues/{quote('/', safe='')}/{QUEUE}")
        return found

    def bigquery(self) -> bigquery.Client:
        """The official client, anonymous, on the emulator's published port."""
        return emulator_client(f"http://127.0.0.1:{self.ports['BIGQUERY_PORT']}", BIGQUERY_PROJECT)

    def counts(self, relation: str, prefix: str) -> dict[str, int]:
        """How many rows of ``relation`` (the table or the dedup view) each cluster id starting with ``prefix`` has."""
        sql = (
            f"SELECT clusterID AS cluster, COUNT(*) AS n FROM `{relation}` "  # noqa: S608  # compose's own names
            "WHERE STARTS_WITH(clusterID, @prefix) GROUP BY clusterID"
        )
        config = bigquery.QueryJobConfig(query_parameters=[bigquery.ScalarQueryParameter("prefix", "STRING", prefix)])
        client = self.bigquery()
        try:
            return {row["cluster"]: int(row["n"]) for row in query_rows(client, sql, config)}
        except NotFound:  # the writers create the table and the view with their first batch
            return {}
        finally:
            client.close()  # type: ignore[no-untyped-call]

    def rows(self, cluster_id: str) -> list[dict[str, Any]]:
        """The dedup view's rows of one cluster id."""
        sql = f"SELECT * FROM `{VIEW}` WHERE clusterID = @cluster"  # noqa: S608  # compose's own names
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("cluster", "STRING", cluster_id)]
        )
        client = self.bigquery()
        try:
            return [dict(row.items()) for row in query_rows(client, sql, config)]
        except NotFound:
            return []
        finally:
            client.close()  # type: ignore[no-untyped-call]
