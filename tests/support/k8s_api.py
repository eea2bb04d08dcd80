"""A wire-level stand-in for the Kubernetes API server: ``/version``, paged ``/api/v1/nodes`` and namespaces.

It is a real HTTP server in a thread, so the official ``kubernetes`` client
talks to it through an ordinary kubeconfig (``write_kubeconfig``), exactly as
it would talk to a cluster. It honours ``limit`` and ``continue`` with opaque
continue tokens in the real server's format (``tests.support.k8s_wire``) and
``remainingItemCount``, serves nodes in key (name) order with canonical
quantities, serves ``GET /api/v1/namespaces/<name>`` for the namespaces it is
given (``kube-system`` by default, with a fixed UID) and answers 403 for those
the caller may not read, can require a bearer token, can serve over TLS (for
the in-cluster code path), can compact its history so that a continue token
expires (410 ``Expired``), and can be scripted to fail with the server's
error bodies.

For benchmarks, ``prebuild_pages`` renders every page once so that the server
is not the bottleneck, and ``python -m tests.support.k8s_api`` serves such
pages from a process of its own, printing one JSON line (``url``, ``total_bytes``, ``pages``) when ready.
"""

from __future__ import annotations

import argparse
import bisect
import json
import logging
import ssl
import sys
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from tests.support.k8s_files import make_tls_files, write_kubeconfig
from tests.support.k8s_nodes import generate_nodes, make_node, sample_nodes
from tests.support.k8s_wire import (
    DEFAULT_GIT_VERSION,
    REASONS,
    canonical_node,
    decode_continue,
    encode_continue,
    expired,
    forbidden,
    namespace_object,
    status_body,
    version_info,
)

__all__ = [
    "DEFAULT_GIT_VERSION",
    "KubeApiStandIn",
    "PrebuiltPages",
    "generate_nodes",
    "make_node",
    "make_tls_files",
    "namespace_object",
    "prebuild_pages",
    "sample_nodes",
    "status_body",
    "version_info",
    "write_kubeconfig",
]

RESOURCE_VERSION: Final = "48151623"
SERVICE_ACCOUNT: Final = "system:serviceaccount:spartakus:spartakus-volunteer"
KUBE_SYSTEM_UID: Final = "6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30"
NAMESPACES_PATH: Final = "/api/v1/namespaces/"


def _key(node: dict[str, Any]) -> str:
    return str(node["metadata"]["name"])


def node_list_page(
    items: Sequence[dict[str, Any]], *, offset: int, limit: int | None, total: int, resource_version: int | None = None
) -> bytes:
    """The JSON body of one ``NodeList`` page starting at ``offset``, its continue naming the page's last key."""
    end = total if limit is None else min(total, offset + limit)
    rv = int(RESOURCE_VERSION) if resource_version is None else resource_version
    metadata: dict[str, Any] = {"resourceVersion": str(rv)}
    if end < total:
        metadata["continue"] = encode_continue(rv, _key(items[end - 1]))
        metadata["remainingItemCount"] = total - end
    page = [canonical_node(node) for node in items[offset:end]]
    body = {"kind": "NodeList", "apiVersion": "v1", "metadata": metadata, "items": page}
    return json.dumps(body, separators=(",", ":")).encode()


_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrebuiltPages:
    """Every page of a node list, rendered once: for benchmarks where the server must not be the bottleneck."""

    page_size: int
    pages: dict[str, bytes]  # start key of the continue token ("" for the first page) -> page body
    total: int

    @property
    def total_bytes(self) -> int:
        """Bytes of all pages together."""
        return sum(len(page) for page in self.pages.values())


def prebuild_pages(nodes: Iterable[dict[str, Any]], page_size: int) -> PrebuiltPages:
    """Render the pages of ``nodes`` for ``limit=page_size``, holding only one page of node objects at a time.

    The pages keep the order ``nodes`` come in (not sorted by name): each continue names the page's last key.
    """
    rendered: list[tuple[int, str, bytes]] = []  # (item count, last key, page without continue)
    chunk: list[dict[str, Any]] = []
    for node in nodes:
        chunk.append(node)
        if len(chunk) == page_size:
            rendered.append(
                (len(chunk), _key(chunk[-1]), node_list_page(chunk, offset=0, limit=None, total=len(chunk)))
            )
            chunk = []
    if chunk or not rendered:
        last = _key(chunk[-1]) if chunk else ""
        rendered.append((len(chunk), last, node_list_page(chunk, offset=0, limit=None, total=len(chunk))))
    total = sum(count for count, _, _ in rendered)
    pages: dict[str, bytes] = {}
    start, served = "", 0
    for count, last, page in rendered:
        served += count
        pages[start] = _with_continue(page, last, total - served) if served < total else page
        start = last + "\x00"
    return PrebuiltPages(page_size=page_size, pages=pages, total=total)


def _with_continue(page: bytes, last_key: str, remaining: int) -> bytes:
    meta = json.dumps({"resourceVersion": RESOURCE_VERSION}, separators=(",", ":")).encode()
    token = encode_continue(int(RESOURCE_VERSION), last_key)
    paged = {"resourceVersion": RESOURCE_VERSION, "continue": token, "remainingItemCount": remaining}
    return page.replace(meta, json.dumps(paged, separators=(",", ":")).encode(), 1)


@dataclass(frozen=True)
class Failure:
    """A scripted answer for requests whose path starts with ``path``."""

    path: str
    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeenRequest:
    """A request the stand-in received."""

    path: str
    query: dict[str, str]
    authorization: str | None


class KubeApiStandIn:
    """The stand-in server. Use as a context manager, or ``start()``/``stop()``.

    Args:
        nodes: the Node objects served by ``/api/v1/nodes``.
        pages: pre-rendered pages, served when a request's ``limit`` equals their page size.
        git_version: ``gitVersion`` served by ``/version``.
        token: when set, requests must carry ``Authorization: Bearer <token>``; others get 401.
        tls: a ``(certfile, keyfile)`` pair to serve HTTPS (see ``make_tls_files``).
        namespaces: namespace name -> UID, served by ``/api/v1/namespaces/<name>``; others get 404.
        readable: the namespaces the caller may read (the volunteer's Role grants ``kube-system`` only);
            any other is 403, whether it exists or not, as RBAC answers before the store is looked at.
    """

    def __init__(
        self,
        nodes: Sequence[dict[str, Any]] = (),
        *,
        pages: PrebuiltPages | None = None,
        git_version: str = DEFAULT_GIT_VERSION,
        token: str | None = None,
        tls: tuple[Path, Path] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        namespaces: dict[str, str] | None = None,
        readable: Iterable[str] = ("kube-system",),
    ) -> None:
        self.nodes: list[dict[str, Any]] = sorted(nodes, key=_key)  # etcd returns keys in order
        self._keys = [_key(node) for node in self.nodes]
        self.namespaces = {"kube-system": KUBE_SYSTEM_UID} if namespaces is None else dict(namespaces)
        self.readable = frozenset(readable)
        self.resource_version = int(RESOURCE_VERSION)
        self._compacted_before = 0
        self._compact_after: int | None = None
        self.pages = pages
        self.git_version = git_version
        self.token = token
        self.requests: list[SeenRequest] = []
        self._failures: deque[Failure] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``."""
        return f"{self._scheme}://{self.host}:{self.port}"

    def start(self) -> KubeApiStandIn:
        """Serve in a daemon thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="k8s-api-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> KubeApiStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(
        self, path: str, status: int, *, times: int = 1, reason: str = "", headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next ``times`` requests under ``path`` with ``status`` and the server's ``Status`` body for it."""
        body = _scripted_body(path, status, reason)
        with self._lock:
            self._failures.extend(Failure(path, status, body, headers or {}) for _ in range(times))

    def compact_after(self, pages: int) -> None:
        """Compact the history after the next ``pages`` node-list answers: continue tokens issued until then expire.

        As etcd's compaction does to a list that a client pages through slowly: the next continue gets 410 ``Expired``.
        """
        with self._lock:
            self._compact_after = pages

    def list_requests(self) -> list[SeenRequest]:
        """The node-list requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path == "/api/v1/nodes"]

    def _record(self, seen: SeenRequest) -> Failure | None:
        with self._lock:
            self.requests.append(seen)
            if self._failures and seen.path.startswith(self._failures[0].path):
                return self._failures.popleft()
        return None

    def answer(self, path: str, query: dict[str, str], authorization: str | None) -> tuple[int, bytes, dict[str, str]]:
        """Status, body and extra headers for one GET."""
        failure = self._record(SeenRequest(path, query, authorization))
        if failure is not None:
            return failure.status, json.dumps(failure.body).encode(), failure.headers
        if self.token is not None and (authorization or "").lower() != f"bearer {self.token}".lower():
            return 401, json.dumps(status_body(401, "Unauthorized", "Unauthorized")).encode(), {}
        if path == "/version":
            return 200, json.dumps(version_info(self.git_version)).encode(), {}
        if path == "/api/v1/nodes":
            return self._node_page(query)
        if path.startswith(NAMESPACES_PATH):
            return self._namespace(path.removeprefix(NAMESPACES_PATH))
        return (
            404,
            json.dumps(status_body(404, "NotFound", "the server could not find the requested resource")).encode(),
            {},
        )

    def _namespace(self, name: str) -> tuple[int, bytes, dict[str, str]]:
        if name not in self.readable:
            return 403, json.dumps(forbidden("namespaces", "get", name=name, user=SERVICE_ACCOUNT)).encode(), {}
        if name in self.namespaces:
            return 200, json.dumps(namespace_object(name, self.namespaces[name])).encode(), {}
        details = {"name": name, "kind": "namespaces"}
        return (
            404,
            json.dumps(status_body(404, "NotFound", f'namespaces "{name}" not found', details=details)).encode(),
            {},
        )

    def _node_page(self, query: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        try:
            limit = int(query["limit"]) if query.get("limit") else None
            rv, start = decode_continue(query["continue"]) if query.get("continue") else (0, "")
        except ValueError as e:
            return 400, json.dumps(status_body(400, "BadRequest", str(e))).encode(), {}
        limit = limit if limit and limit > 0 else None
        with self._lock:
            if start and rv < self._compacted_before:
                carry_on = encode_continue(self.resource_version, start.removesuffix("\x00"))
                return 410, json.dumps(expired(carry_on)).encode(), {}
            current = self.resource_version
            self._count_page()  # a compaction now expires the continue of this very page
        if self.pages is not None and limit == self.pages.page_size and start in self.pages.pages:
            return 200, self.pages.pages[start], {}
        offset = bisect.bisect_left(self._keys, start)
        page = node_list_page(self.nodes, offset=offset, limit=limit, total=len(self.nodes), resource_version=current)
        return 200, page, {}

    def _count_page(self) -> None:
        if self._compact_after is None:
            return
        self._compact_after -= 1
        if self._compact_after <= 0:
            self._compact_after = None
            self.resource_version += 1
            self._compacted_before = self.resource_version


def _scripted_body(path: str, status: int, reason: str) -> dict[str, Any]:
    """The body the real server sends with ``status`` for ``path``: details for 403 and 404, a continue for 410."""
    resource = "namespaces" if path.startswith(NAMESPACES_PATH) else path.rstrip("/").rsplit("/", 1)[-1] or "nodes"
    name = path.removeprefix(NAMESPACES_PATH) if path.startswith(NAMESPACES_PATH) else None
    if status == 403:
        body = forbidden(resource, "get" if name else "list", name=name, user=SERVICE_ACCOUNT)
        body["message"] += f" (scripted failure {status})"
        return body
    if status == 410:
        return expired(encode_continue(int(RESOURCE_VERSION) + 1, "scripted"))
    details = ({"name": name, "kind": resource} if name else {"kind": resource}) if status == 404 else None
    return status_body(
        status, reason or REASONS.get(status, "InternalError"), f"scripted failure {status}", details=details
    )


def _handler_for(stand_in: KubeApiStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as client and API server use it

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"  # the API server treats /version/ as /version
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            status, body, headers = stand_in.answer(path, query, self.headers.get("Authorization"))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # the base class names it so
            _log.debug(format, *args)

    return Handler


def _serve_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve generated nodes from pre-built pages until stdin closes.")
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args(argv)
    pages = prebuild_pages(generate_nodes(args.nodes), args.page_size)
    with KubeApiStandIn(pages=pages) as server:
        print(json.dumps({"url": server.url, "total_bytes": pages.total_bytes, "pages": len(pages.pages)}), flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(_serve_main())
