"""The collector side as real processes, started through the ``spartakus`` CLI as operators start it.

``Pipeline`` starts ingest gateways, writers and volunteers with their logs in
one directory, stops every one of them at the end, and gives the tail of each
log for a failing test's report. ``Gateway`` talks HTTP to a running gateway.
"""

from __future__ import annotations

import contextlib
import http.client
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tests.support.processes import SpartakusProcess
from tests.support.services import free_port, wait_until

START_TIMEOUT: Final = 60.0
"""Seconds a process may take to become ready; two cores are shared with the rest of the test run."""
JSON_HEADERS: Final = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Answer:
    """Status, lower-cased headers and body of one HTTP exchange."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class Gateway:
    """A running ``spartakus ingest`` on ``127.0.0.1:port``."""

    process: SpartakusProcess
    port: int
    connection_name: str

    @property
    def url(self) -> str:
        """Base URL, as a volunteer's ``--database``."""
        return f"http://127.0.0.1:{self.port}"

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Answer:
        """One request on a fresh connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=dict(headers or {}))
            answer = connection.getresponse()
            return Answer(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            connection.close()

    def ready(self) -> bool:
        """Whether ``/readyz`` answers 200 (the broker channel is open)."""
        try:
            return self.request("GET", "/readyz").status == 200
        except OSError:
            return False


@dataclass
class Pipeline:
    """Processes of one test, against ``amqp_url`` and ``queue``; logs go to ``log_dir``."""

    amqp_url: str
    queue: str
    log_dir: Path
    processes: dict[str, SpartakusProcess] = field(default_factory=dict)
    extra_logs: dict[str, Path] = field(default_factory=dict)

    def start(self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> SpartakusProcess:
        """Start ``spartakus <args>`` as ``name``; its output goes to ``<log_dir>/<name>.log``."""
        if name in self.processes and self.processes[name].alive():
            raise AssertionError(f"process {name} is already running")
        process = SpartakusProcess(list(args), self.log_dir / f"{name}.log", dict(env or {}))
        self.processes[name] = process.start()
        return process

    def ingest(self, *extra: str, name: str = "ingest", floods: bool = False) -> Gateway:
        """Start a gateway on a free port and wait until its broker channel is open.

        The flood limits are off unless ``floods``: most tests send many reports for one cluster id.
        """
        port = free_port()
        connection_name = f"spartakus-e2e-{uuid.uuid4().hex[:12]}"
        args = ["ingest", "--host=127.0.0.1", f"--port={port}", f"--amqp-url={self.amqp_url}"]
        args += [f"--queue={self.queue}", f"--connection-name={connection_name}"]
        args += [*([] if floods else ["--min-report-interval=0", "--new-clusters-per-source=0"]), *extra]
        gateway = Gateway(self.start(name, args), port, connection_name)
        self.wait_ready(name, gateway.ready, what="the gateway's /readyz")
        return gateway

    def writer(self, name: str, database: str, *extra: str, env: Mapping[str, str] | None = None) -> int:
        """Start a writer into ``database`` and wait until its ``/metrics`` answers; returns the metrics port."""
        port = free_port()
        args = ["writer", f"--amqp-url={self.amqp_url}", f"--queue={self.queue}", f"--database={database}"]
        args += [f"--metrics-port={port}", *extra]
        self.start(name, args, env)
        self.wait_ready(name, lambda: writer_metrics(port) is not None, what=f"{name}'s /metrics")
        return port

    def wait_ready(self, name: str, probe: Callable[[], bool], *, what: str) -> None:
        """Wait until ``probe()`` is true; fail at once if the process exits first."""
        process = self.processes[name]
        wait_until(lambda: probe() or not process.alive(), timeout=START_TIMEOUT, what=what)
        if not process.alive():
            raise AssertionError(f"{name} exited before it was ready:\n{tail(process.output())}")

    def stop_all(self) -> None:
        """SIGTERM every process (SIGKILL after a timeout), in reverse start order."""
        for process in reversed(list(self.processes.values())):
            with contextlib.suppress(OSError):
                process.stop(timeout=30)

    def log_tails(self, lines: int = 40) -> str:
        """The last ``lines`` lines of every log, under a heading each."""
        parts = [
            f"--- {name} ({process.log_path}) ---\n{tail(process.output(), lines)}"
            for name, process in self.processes.items()
        ]
        for name, path in self.extra_logs.items():
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            parts.append(f"--- {name} ({path}) ---\n{tail(text, lines)}")
        return "\n".join(parts)


MAX_LINE_CHARS: Final = 600


def tail(text: str, lines: int = 40) -> str:
    """The last ``lines`` lines of ``text``, each cut to a readable length."""
    return "\n".join(line[:MAX_LINE_CHARS] for line in text.splitlines()[-lines:])


def writer_metrics(port: int) -> dict[str, float] | None:
    """A writer's metric samples (name with labels -> value), or None while ``/metrics`` does not answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        answer = connection.getresponse()
        text = answer.read().decode()
    except OSError:
        return None
    finally:
        connection.close()
    if answer.status != 200:
        return None
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            samples[name] = float(value)
    return samples


def writer_metric(port: int, sample: str) -> float | None:
    """One sample of a writer's metrics (e.g. ``spartakus_writer_held_rows``); None while it does not answer."""
    samples = writer_metrics(port)
    return None if samples is None else samples.get(sample, 0.0)


def rows_written(port: int, sink: str) -> float:
    """Rows a writer has acked as durably written to ``sink`` (0 while it does not answer)."""
    return writer_metric(port, f'spartakus_writer_rows_written_total{{sink="{sink}"}}') or 0.0
