"""Hostile connections against the real dashboard: its page keeps answering in well under a second meanwhile.

The dashboard runs as a process under a small file limit (256, as a tight
container's) with a 1 s header timeout, as the gateway does in
``tests/ingest/test_hostile_load.py``; a probe fetches the page on fresh
connections during each attack.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.ingest.gateway import with_file_limit
from tests.support.dashboard_process import fetch
from tests.support.gateway_attacks import huge_headers, idle_connections, probe_page
from tests.support.services import free_port, wait_until

pytestmark = pytest.mark.integration

FILE_LIMIT = 256
PROBE_SECONDS = 3.0
P99_LIMIT_MS = 1000.0


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SPARTAKUS_")}


@dataclass
class Dashboard:
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def closed(self, reason: str) -> float:
        name = f'spartakus_dashboard_connections_closed_total{{reason="{reason}"}}'
        for line in fetch(self.base + "/metrics").body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        raise AssertionError(f"{name} not in metrics")


@pytest.fixture(scope="module")
def guarded(fleet_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard under a file limit of 256, with a 1 s header timeout."""
    port = free_port()
    log = tmp_path_factory.mktemp("hostile") / "dashboard.log"
    command = [sys.executable, "-m", "spartakus", "dashboard", f"--database=duckdb:///{fleet_db}"]
    command += [f"--port={port}", "--header-timeout=1s"]
    with log.open("ab") as out:
        process = subprocess.Popen(  # our own command line
            with_file_limit(command, FILE_LIMIT), stdout=out, stderr=subprocess.STDOUT, env=clean_environment()
        )
    dashboard = Dashboard(port, log)

    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        with contextlib.suppress(OSError):
            return fetch(dashboard.base + "/healthz", timeout=1).status == 200
        return False

    try:
        wait_until(healthy, timeout=30, what="the dashboard to answer /healthz")
        yield dashboard
    finally:
        process.terminate()
        assert process.wait(timeout=30) in {0, -15}, log.read_text()


def assert_page_answers(dashboard: Dashboard) -> None:
    probe = probe_page(dashboard.port, "/", seconds=PROBE_SECONDS)

    assert probe.statuses == {200}, probe.results[:20]
    assert len(probe.results) >= 20
    assert probe.percentile_ms(0.99) < P99_LIMIT_MS


def test_a_huge_header_is_431_at_the_limit_and_the_page_keeps_answering(guarded: Dashboard) -> None:
    before = guarded.closed("header_too_large")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: d\r\nX-Huge: " + b"a" * (1024 * 1024))
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert time.monotonic() - started < 2

    with huge_headers(guarded.port, clients=2):
        assert_page_answers(guarded)
    assert guarded.closed("header_too_large") >= before + 2


def test_unfinished_request_heads_beyond_the_file_limit_leave_room_for_the_page(guarded: Dashboard) -> None:
    before = guarded.closed("evicted")

    # As in the report that found the dashboard unbounded: 1,100 heads that never finish.
    with idle_connections(guarded.port, 1100, partial_head_every=1):
        assert_page_answers(guarded)

    assert guarded.closed("evicted") > before


def test_a_head_sent_too_slowly_is_closed_after_the_header_timeout(guarded: Dashboard) -> None:
    before = guarded.closed("header_timeout")
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: d\r\n")
        answer = sock.recv(65536)

    assert answer == b""
    assert 0.9 < time.monotonic() - started < 5
    wait_until(lambda: guarded.closed("header_timeout") == before + 1, timeout=5, what="the header_timeout count")
