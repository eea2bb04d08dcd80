"""Running the real gateway (``python -m ingest``) as a subprocess and talking HTTP to it."""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from tests.support.services import free_port, wait_until

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Response:
    """Status, lower-cased headers and body of one HTTP exchange."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


@dataclass
class Gateway:
    """A gateway process on ``127.0.0.1:port`` publishing to ``queue``."""

    process: subprocess.Popen[bytes]
    port: int
    queue: str
    connection_name: str
    log_path: Path

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 15,
        source: str | None = None,
    ) -> Response:
        """One request on a fresh connection, from the loopback address ``source`` if given (any of 127.0.0.0/8)."""
        address = None if source is None else (source, 0)
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout, source_address=address)
        try:
            # The gateway may answer (413) and close before taking the whole body; read that answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                connection.request(method, path, body=body, headers=dict(headers or {}))
            answer = connection.getresponse()
            data = answer.read()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
        finally:
            connection.close()

    def post(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        path: str = "/api/v1",
        *,
        timeout: float = 15,
        source: str | None = None,
    ) -> Response:
        """POST ``body``; JSON content type unless ``headers`` say otherwise."""
        chosen = JSON_HEADERS if headers is None else headers
        return self.request("POST", path, body, chosen, timeout=timeout, source=source)

    def post_report(self, report: Mapping[str, Any], *, timeout: float = 15) -> Response:
        """POST ``report`` as the Go volunteer does: plain JSON, application/json."""
        return self.post(json.dumps(report).encode(), timeout=timeout)

    def post_gzip(self, body: bytes) -> Response:
        """POST ``body`` gzip-compressed."""
        return self.post(gzip.compress(body), {**JSON_HEADERS, "Content-Encoding": "gzip"})

    def get(self, path: str) -> Response:
        """GET ``path``."""
        return self.request("GET", path)

    def is_ready(self) -> bool:
        """Whether ``/readyz`` answers 200."""
        try:
            return self.get("/readyz").status == 200
        except OSError:
            return False

    def memory_kib(self, field: str = "VmRSS") -> int:
        """A memory figure of the process from ``/proc`` (``VmRSS``, or ``VmHWM`` for the peak)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
        raise AssertionError(f"{field} missing from /proc/{self.process.pid}/status")

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far."""
        lines = []
        for line in self.log_path.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                lines.append(json.loads(line))
        return lines

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)


FLOOD_LIMITS_OFF: Final = ("--min-report-interval=0", "--new-clusters-per-source=0")
"""Gateway flags that turn the per-cluster and per-source limits off."""


def _clean_environment() -> dict[str, str]:
    # The gateway reads SPARTAKUS_* variables; the test's flags must be all it sees.
    return {key: value for key, value in os.environ.items() if not key.startswith("SPARTAKUS_")}


@contextlib.contextmanager
def running_gateway(
    amqp_url: str,
    queue: str,
    args: Sequence[str] = (),
    *,
    ready: bool = True,
    preexec: Callable[[], None] | None = None,
    file_limit: int | None = None,
    floods: bool = False,
) -> Iterator[Gateway]:
    """Start a gateway, wait until it answers (and, with ``ready``, until its broker channel is open).

    The flood limits are off unless ``floods``: most tests send many reports for one cluster id.

    ``preexec`` runs in the child before the gateway starts, e.g. to join a memory cgroup.
    ``file_limit`` sets the process's soft and hard limit of open files, as a container's would.
    """
    port = free_port()
    name = f"test-ingest-{uuid.uuid4().hex[:10]}"
    with tempfile.TemporaryDirectory(prefix="ingest-test-") as tmp:
        log_path = Path(tmp) / "gateway.log"
        command = [sys.executable, "-m", "ingest", "--host", "127.0.0.1", "--port", str(port)]
        command += ["--amqp-url", amqp_url, "--queue", queue, "--connection-name", name]
        command += [*([] if floods else FLOOD_LIMITS_OFF), *args]
        if file_limit is not None:
            command = with_file_limit(command, file_limit)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=log_file,
                env=_clean_environment(),
                preexec_fn=preexec,  # noqa: PLW1509  # only writes the child's pid to a cgroup file
            )
        gateway = Gateway(process, port, queue, name, log_path)
        try:
            probe = gateway.is_ready if ready else (lambda: _answers(gateway))
            wait_until(lambda: probe() or process.poll() is not None, timeout=30, what="the gateway to start")
            if process.poll() is not None:
                raise AssertionError(f"gateway exited with {process.returncode}:\n{log_path.read_text()}")
            yield gateway
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


# A launcher sets the limit and execs the gateway: a preexec_fn would run fork handlers that
# libraries loaded in the test process (gRPC) register, and those abort the child.
_LIMIT_FILES = (
    "import os, resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[1]),) * 2); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def with_file_limit(command: list[str], limit: int) -> list[str]:
    """``command``, run under a limit of ``limit`` open files (soft and hard), as a container's would be."""
    return [sys.executable, "-c", _LIMIT_FILES, str(limit), *command]


def _answers(gateway: Gateway) -> bool:
    try:
        return gateway.get("/healthz").status == 200
    except OSError:
        return False


def go_volunteer_report(cluster_id: str | None = None) -> dict[str, Any]:
    """A report field for field as the original Go volunteer v1.1.0 sends it (empty timestamp included)."""
    return {
        "version": "v1.1.0",
        "timestamp": "",
        "clusterID": cluster_id or str(uuid.uuid4()),
        "masterVersion": "v1.31.1",
        "nodes": [
            {
                "id": "5f4dcc3b5aa765d61d8327deb882cf99",
                "operatingSystem": "linux",
                "osImage": "Ubuntu 22.04.4 LTS",
                "kernelVersion": "5.15.0-1057-gcp",
                "architecture": "amd64",
                "containerRuntimeVersion": "containerd://1.7.13",
                "kubeletVersion": "v1.31.1",
                "cloudProvider": "gce",
                "capacity": [
                    {"resource": "cpu", "value": "4"},
                    {"resource": "memory", "value": "16393220Ki"},
                    {"resource": "pods", "value": "110"},
                ],
            }
        ],
        "extensions": [{"name": "example.com/hello", "value": "world"}],
    }
