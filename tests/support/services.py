"""Finding the real services the integration tests need.

Locally a missing service skips its tests; with ``CI=true`` it fails them,
because a skipped integration test proves nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import closing

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
