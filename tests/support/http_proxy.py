"""A pass-through HTTP proxy in a thread, in front of a test's emulator, that may look at or answer each request.

``intercept(method, path, body)`` sees every request first: it records what
the test wants to know and returns None to pass the request on unchanged, or
an ``(status, headers, body)`` answer to give instead. The upstream's answer
comes back unchanged but for its hop-by-hop headers.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import urlsplit

from tests.support.services import free_port

HOP_BY_HOP: Final = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}

Reply = tuple[int, dict[str, str], bytes]
Intercept = Callable[[str, str, bytes], Reply | None]
"""``(method, path, body)`` -> an answer of the proxy's own, or None to forward the request."""


def _handler(upstream: str, intercept: Intercept) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            reply = intercept(self.command, urlsplit(self.path).path, body)
            if reply is None:
                reply = self._upstream(body if length else None)
            status, headers, data = reply
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _upstream(self, body: bytes | None) -> Reply:
            connection = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=120)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                return response.status, {k: v for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP}, data
            finally:
                connection.close()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815  # the names the base class calls

        def log_message(self, format: str, *args: object) -> None:  # the base class names it so
            """Quiet: a test reads what its ``intercept`` recorded instead."""

    return Handler


@contextmanager
def http_proxy(upstream: str, intercept: Intercept, *, name: str) -> Iterator[int]:
    """Run the proxy for ``upstream`` (``http://host:port``) on a free local port, which it yields."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(upstream, intercept))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
