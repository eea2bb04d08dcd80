"""An HTTP proxy in front of the BigQuery emulator that enforces BigQuery's request size limit as the service does.

The emulator accepts any size. Real BigQuery refuses an insertAll request
over 10,485,760 bytes: just over the limit with ``400 Request payload size
exceeds the limit: 10485760 bytes.`` (a JSON error body, reason
``badRequest``), and far over it Google's front end may answer ``413`` with
an HTML page instead. The proxy answers the same way and passes every other
request through unchanged, recording the size of each request body it saw.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final, Literal
from urllib.parse import urlsplit

from tests.support.services import free_port

LIMIT: Final = 10_485_760
MESSAGE: Final = f"Request payload size exceeds the limit: {LIMIT} bytes."
FRONT_END_413: Final = (
    b"<!DOCTYPE html><html lang=en><title>Error 413 (Request Entity Too Large)!!1</title>"
    b"<p><b>413.</b> <ins>That\xe2\x80\x99s an error.</ins><p>Your client issued a request that was too large."
)
_HOP_BY_HOP: Final = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}

Answer = Literal["400", "413", "auto"]


def _bad_request_body() -> bytes:
    error = {"message": MESSAGE, "domain": "global", "reason": "badRequest"}
    return json.dumps(
        {"error": {"code": 400, "message": MESSAGE, "errors": [error], "status": "INVALID_ARGUMENT"}}
    ).encode()


@dataclass
class LimitProxy:
    """The proxy's state: where it forwards, how it refuses, and what it saw."""

    upstream: str
    answer: Answer = "auto"
    """``400``, ``413``, or ``auto``: 400 up to twice the limit, 413 beyond (as Google's front end does)."""
    sizes: list[int] = field(default_factory=list)
    """Body size of every insertAll request, accepted or not."""
    refused: list[int] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``, for ``BIGQUERY_EMULATOR_HOST`` or a sink's ``emulator_host``."""
        return f"http://127.0.0.1:{self.port}"

    def refusal(self, size: int) -> tuple[int, str, bytes] | None:
        """The answer for a request body of ``size`` bytes, or None to pass it on."""
        if size <= LIMIT:
            return None
        if self.answer == "413" or (self.answer == "auto" and size > 2 * LIMIT):
            return 413, "text/html; charset=UTF-8", FRONT_END_413
        return 400, "application/json; charset=UTF-8", _bad_request_body()


def _handler(proxy: LimitProxy) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(proxy.upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if urlsplit(self.path).path.endswith("/insertAll"):
                with proxy.lock:
                    proxy.sizes.append(length)
                refusal = proxy.refusal(length)
                if refusal is not None:
                    with proxy.lock:
                        proxy.refused.append(length)
                    self._reply(refusal[0], {"Content-Type": refusal[1]}, refusal[2])
                    return
            upstream = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                upstream.request(self.command, self.path, body=body if length else None, headers=headers)
                response = upstream.getresponse()
                data = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                self._reply(response.status, kept, data)
            finally:
                upstream.close()

        def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def do_PUT(self) -> None:
            self._forward()

        def do_PATCH(self) -> None:
            self._forward()

        def do_DELETE(self) -> None:
            self._forward()

        def log_message(self, format: str, *args: object) -> None:  # the base class names it so
            """Quiet: the test reads ``sizes`` instead."""

    return Handler


@contextmanager
def limit_proxy(upstream: str, answer: Answer = "auto") -> Iterator[LimitProxy]:
    """Run a ``LimitProxy`` for ``upstream`` (``http://host:port``) on a free local port."""
    proxy = LimitProxy(upstream, answer)
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(proxy))
    server.daemon_threads = True
    proxy.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="bq-limit-proxy", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
