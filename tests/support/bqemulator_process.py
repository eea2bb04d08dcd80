"""Run the BigQuery emulator as a separate process on a free port.

The writer runs in its own process in end-to-end tests and needs an emulator
it can reach over a socket and that a test can stop and restart; a subprocess
also keeps the emulator's logs and warnings out of the test run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.api_core.client_options import ClientOptions
from google.api_core.exceptions import BadRequest
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY

from tests.support.pipeline import tail
from tests.support.services import free_port, port_open, wait_until

_REPO = Path(__file__).resolve().parents[2]
_LAUNCHER = "tests.support.bqemulator_main"
PROJECT = "spartakus-test"
# The client's own default keeps retrying a refused connection for ten minutes;
# a test that reads an emulator should fail within its own time budget instead.
CALL_RETRY = DEFAULT_RETRY.with_deadline(30)
CALL_TIMEOUT = 30.0
# The emulator runs a query and a Storage Write append on one DuckDB connection and refuses the second call
# instead of waiting ("connection is busy"); real BigQuery has no such limit, so a test's read asks again.
BUSY_RETRY = Retry(
    predicate=lambda error: isinstance(error, BadRequest) and "connection is busy" in str(error),
    initial=0.05,
    maximum=1.0,
    timeout=30.0,
)


def emulator_client(endpoint: str, project: str = PROJECT) -> bigquery.Client:
    """The official client, anonymous, for the emulator at ``endpoint`` (``http://host:port``)."""
    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def query_rows(client: bigquery.Client, sql: str, job_config: bigquery.QueryJobConfig | None = None) -> list[Any]:
    """The rows of ``sql``, failing within about half a minute when the emulator does not answer."""
    job = client.query(sql, job_config=job_config, retry=CALL_RETRY, job_retry=BUSY_RETRY, timeout=CALL_TIMEOUT)
    return list(job.result(retry=CALL_RETRY, timeout=CALL_TIMEOUT))


@dataclass
class EmulatorProcess:
    """One emulator process; ``start`` and ``stop`` may be called repeatedly (same port)."""

    rest_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        """Value for ``BIGQUERY_EMULATOR_HOST``."""
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def write_endpoint(self) -> str:
        """Value for ``SPARTAKUS_BIGQUERY_WRITE_ENDPOINT``: the Storage Write API's plaintext gRPC."""
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, timeout: float = 60) -> None:
        """Start the emulator and wait until its REST port answers."""
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115  # handed to the child
        self._process = subprocess.Popen(
            [sys.executable, "-m", _LAUNCHER, str(self.rest_port), str(self.grpc_port)],
            cwd=_REPO,
            stdout=log,
            stderr=log,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if not isinstance(log, int):
            log.close()  # the child has its own descriptor
        process = self._process
        wait_until(
            lambda: (
                process.poll() is not None
                or (port_open("127.0.0.1", self.rest_port) and port_open("127.0.0.1", self.grpc_port))
            ),
            timeout=timeout,
            what="bqemulator REST and gRPC ports",
        )
        if process.poll() is not None:
            self._process = None
            raise RuntimeError(f"bqemulator exited with {process.returncode} at start:\n{self.log_tail()}")

    def running(self) -> bool:
        """Whether the emulator process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the emulator's log, if it has one."""
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return tail(self.log_path.read_text(encoding="utf-8", errors="replace"), lines)

    def stop(self) -> None:
        """Stop the emulator (its in-memory data is gone afterwards)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=15)
        self._process = None
