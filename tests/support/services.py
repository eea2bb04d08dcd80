"""Finding the real services the integration tests need.

Locally a missing service skips its tests; with ``CI=true`` it fails them,
because a skipped integration test proves nothing.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pika
import pika.exceptions
import pytest

DEFAULT_TEST_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def in_ci() -> bool:
    """True when running under CI, where a missing service is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_service(reason: str) -> None:
    """Skip locally; fail in CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: integration tests must not skip)", pytrace=False)
    pytest.skip(reason)


def amqp_answers(url: str) -> bool:
    """Whether a broker accepts an AMQP connection at ``url``."""
    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = 3
    params.blocked_connection_timeout = 3
    try:
        connection = pika.BlockingConnection(params)
    except pika.exceptions.AMQPError:
        return False
    connection.close()
    return True


def docker_engine_available() -> bool:
    """Whether a Docker engine (not just the client) answers."""
    if shutil.which("docker") is None:
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)
    return result.returncode == 0


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_PORT_SPAN = 10_000
_handed_out: set[int] = set()


@functools.cache
def _candidate_ports() -> range:
    """Ports just below the kernel's ephemeral range: no outgoing connection is ever given one of them.

    Under pytest-xdist each worker takes a slice of its own: a port one worker
    has checked but not yet bound can never be handed out by another.
    """
    try:
        low = int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    ports = range(max(1024, low - _PORT_SPAN), low)
    worker, workers = os.environ.get("PYTEST_XDIST_WORKER", ""), os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not (worker.startswith("gw") and worker[2:].isdigit() and workers.isdigit() and int(workers) > 0):
        return ports
    share = len(ports) // int(workers)
    start = ports.start + int(worker[2:]) % int(workers) * share
    return range(start, start + share)


def _bindable(port: int) -> bool:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, and that this run has not handed out before.

    A port the kernel picks for ``bind(0)`` can be picked again by the next
    call, or taken by an outgoing connection before the server binds it; so the
    ports come from below the ephemeral range, each one at most once per run.
    """
    candidates = _candidate_ports()
    start = random.randrange(len(candidates))  # noqa: S311  # spreads concurrent runs; not a secret
    for offset in range(len(candidates)):
        port = candidates[(start + offset) % len(candidates)]
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free TCP port left in {candidates.start}-{candidates.stop - 1}")


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = "condition"
) -> None:
    """Poll ``condition`` until it is true; fail the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
