"""``spartakus dashboard`` as a real process on a free port, and plain HTTP reads of it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.processes import SpartakusProcess
from tests.support.services import free_port, wait_until


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


def fetch(url: str, *, method: str = "GET", timeout: float = 30) -> Answer:
    """``method url``; an HTTP error status is an answer, not an exception."""
    request = urllib.request.Request(url, method=method)  # noqa: S310  # http://127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  # as above
            return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, {k.lower(): v for k, v in e.headers.items()}, e.read())


@contextmanager
def dashboard(database: str, log_dir: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run ``spartakus dashboard --database=<database>`` until the block ends; yields its base URL."""
    port = free_port()
    process = SpartakusProcess(
        ["dashboard", f"--database={database}", f"--port={port}", *args], log_dir / f"dashboard-{port}.log", env or {}
    ).start()
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if not process.alive():
            raise AssertionError(f"the dashboard exited:\n{process.output()}")
        try:
            return fetch(base + "/healthz", timeout=1).status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, timeout=30, what="the dashboard to answer /healthz")
        yield base
    finally:
        code = process.stop()
        assert code in {0, -15}, process.output()
