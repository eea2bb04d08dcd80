"""A local HTTP server that behaves like the original Go collector, for the volunteer's tests.

Like the original, ``POST /api/v1`` requires ``Content-Type: application/json``
(415 otherwise), decodes the body into the v1 record (400 when that fails) and
answers 204. It cannot read gzip unless ``accept_gzip`` is set, exactly as an
original collector could not. Answers can be scripted (``script``) to return
503, 422, 429 and the like, with ``Retry-After``; every request is recorded
with the time it arrived.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.original_wire import NODE_STRING_FIELDS
from tests.support.services import wait_until

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """A scripted answer."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering: a collector too slow for the client's timeout


@dataclass(frozen=True)
class Received:
    """One request as the collector saw it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes  # as sent (possibly gzip)
    arrived: float  # time.monotonic()
    status: int  # what the collector answered

    def json(self) -> Any:
        """The decoded report (gunzipped when sent with ``Content-Encoding: gzip``)."""
        raw = gzip.decompress(self.body) if self.headers.get("content-encoding") == "gzip" else self.body
        return json.loads(raw)


_STRING_FIELDS = ("version", "timestamp", "clusterID", "masterVersion")


def _strings_error(obj: dict[str, Any], names: tuple[str, ...], where: str) -> str | None:
    for name in names:
        if obj.get(name) is not None and not isinstance(obj[name], str):
            return f"json: cannot unmarshal into Go struct field {where}.{name} of type string"
    return None


def _list_of_objects_error(value: Any, where: str) -> str | None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(v, dict) for v in value)):
        return f"json: cannot unmarshal into Go struct field {where} of type []struct"
    return None


def go_decode_error(body: bytes) -> str | None:
    """Why Go's ``json.Unmarshal`` into the original ``report.Record`` would fail, or None when it succeeds."""
    try:
        record = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        return f"invalid character: {e}"
    if not isinstance(record, dict):
        return "json: cannot unmarshal into Go value of type report.Record"
    problem = _strings_error(record, _STRING_FIELDS, "Record") or _list_of_objects_error(
        record.get("nodes"), "Record.nodes"
    )
    if problem:
        return problem
    problem = _list_of_objects_error(record.get("extensions"), "Record.extensions")
    for ext in record.get("extensions") or []:
        problem = problem or _strings_error(ext, ("name", "value"), "Extension")
    for node in record.get("nodes") or []:
        problem = problem or _strings_error(node, NODE_STRING_FIELDS, "Node")
        problem = problem or _list_of_objects_error(node.get("capacity"), "Node.capacity")
        for resource in node.get("capacity") or []:
            problem = problem or _strings_error(resource, ("resource", "value"), "Resource")
    return problem


class CollectorStandIn:
    """The server. Use as a context manager, or ``start()``/``stop()``.

    Args:
        accept_gzip: decode ``Content-Encoding: gzip`` bodies (the original could not).
    """

    def __init__(self, *, accept_gzip: bool = False, host: str = "127.0.0.1", port: int = 0) -> None:
        self.accept_gzip = accept_gzip
        self.received: list[Received] = []
        self._script: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to pass as ``--database``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> CollectorStandIn:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="collector-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._stopping.set()  # ends any scripted delay
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> CollectorStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_stopping(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the server is being stopped."""
        self._stopping.wait(seconds)

    def script(self, *replies: Reply) -> None:
        """Answer the next POSTs with ``replies``, in order, before behaving normally again."""
        with self._lock:
            self._script.extend(replies)

    def reports(self) -> list[Received]:
        """The POSTs to ``/api/v1`` received so far."""
        with self._lock:
            return [r for r in self.received if r.method == "POST" and r.path == "/api/v1"]

    def wait_for_reports(self, count: int, *, timeout: float = 10) -> list[Received]:
        """Wait until ``count`` reports arrived; return them."""
        wait_until(lambda: len(self.reports()) >= count, timeout=timeout, what=f"{count} report(s) at the collector")
        return self.reports()

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        """The reply to one request, recorded with it."""
        reply = self._reply(method, path, headers, body)
        with self._lock:
            self.received.append(Received(method, path, headers, body, time.monotonic(), reply.status))
        return reply

    def _reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        if path != "/api/v1":
            return Reply(404, b"404 page not found\n")
        if method != "POST":
            return Reply(405, b"Method Not Allowed\n")
        with self._lock:
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return scripted
        content_type = headers.get("content-type", "").split(";")[0]
        if content_type != "application/json":
            message = f'Unsupported content type "{content_type}"; expected one of ["application/json"]\n'
            return Reply(415, message.encode())
        if headers.get("content-encoding") == "gzip" and self.accept_gzip:
            body = gzip.decompress(body)
        problem = go_decode_error(body)
        if problem is not None:
            return Reply(400, f"Error: failed to decode record: {problem}".encode())
        return Reply(204)


def _handler_for(collector: CollectorStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = collector.answer(self.command, self.path, headers, body)
            if reply.delay:
                collector.wait_stopping(reply.delay)
            # The client may have given up waiting, which is what a delay tests.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self._reply(reply)

        def _reply(self, reply: Reply) -> None:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status != 204:
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.status != 204:
                self.wfile.write(reply.body)

        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def do_PUT(self) -> None:
            self._handle()

        def log_message(self, format: str, *args: Any) -> None:  # the base class names it so
            _log.debug(format, *args)

    return Handler
