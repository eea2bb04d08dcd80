"""An HTTP proxy in front of the BigQuery emulator that records every query job a client sends.

A client's ``jobs.insert`` (``POST .../jobs``) and ``jobs.query`` (``POST
.../queries``) bodies carry the SQL and the job's settings, such as
``maximumBytesBilled``; the proxy keeps them, in order, and passes every
request through unchanged.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import urlsplit

from tests.support.services import free_port

_HOP_BY_HOP: Final = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


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

    def record(self, path: str, body: bytes) -> None:
        """Keep the query of a job request to ``path``; other requests are not kept."""
        if not (path.endswith("/jobs") or path.endswith("/queries")) or not body:
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


def _handler(proxy: RecordingProxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.command == "POST":
                proxy.record(urlsplit(self.path).path, body)
            upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body if length else None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            finally:
                upstream.close()

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: object) -> None:  # the base class names it so
            """Quiet: the test reads ``jobs`` instead."""

    return Handler


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    """Run a ``RecordingProxy`` for ``upstream`` (``http://host:port``) on a free local port."""
    proxy = RecordingProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(proxy))
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="bq-recording-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
