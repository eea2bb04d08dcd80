"""An HTTP proxy in front of the BigQuery emulator that records every query job a client sends.

A client's ``jobs.insert`` (``POST .../jobs``) and ``jobs.query`` (``POST
.../queries``) bodies carry the SQL and the job's settings, such as
``maximumBytesBilled``; the proxy keeps them, in order, and passes every
request through unchanged.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support.http_proxy import http_proxy


@dataclass
class RecordingProxy:
    """Where the proxy forwards, and the query settings it saw."""

    upstream: str
    jobs: list[dict[str, Any]] = field(default_factory=list)
    """The ``query`` part of each job's configuration (``jobs.query`` bodies as they are)."""
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, for ``BIGQUERY_EMULATOR_HOST``."""
        return f"http://127.0.0.1:{self.port}"

    def intercept(self, method: str, path: str, body: bytes) -> None:
        """Keep the query of a job request (a POST to ``.../jobs`` or ``.../queries``); pass everything on."""
        if method != "POST" or not (path.endswith("/jobs") or path.endswith("/queries")) or not body:
            return
        sent = json.loads(body)
        query = sent.get("configuration", {}).get("query") if path.endswith("/jobs") else sent
        if query is not None:
            with self.lock:
                self.jobs.append(query)

    def queries(self) -> list[str]:
        """The SQL of each recorded job, in order."""
        with self.lock:
            return [job["query"] for job in self.jobs]


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    """Run a ``RecordingProxy`` for ``upstream`` (``http://host:port``) on a free local port."""
    proxy = RecordingProxy(upstream)
    with http_proxy(upstream, proxy.intercept, name="bq-recording-proxy") as port:
        proxy.port = port
        yield proxy
