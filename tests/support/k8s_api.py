"""A wire-level stand-in for the Kubernetes API server: ``/version``, paged ``/api/v1/nodes`` and namespaces.

It is a real HTTP server in a thread, so the official ``kubernetes`` client
talks to it through an ordinary kubeconfig (``write_kubeconfig``), exactly as
it would talk to a cluster. It honours ``limit`` and ``continue`` with opaque
continue tokens and ``remainingItemCount``, serves ``GET /api/v1/namespaces/<name>``
for the namespaces it is given (``kube-system`` by default, with a fixed UID), can require a bearer token, can
serve over TLS (for the in-cluster code path), and can be scripted to fail.

For benchmarks, ``prebuild_pages`` renders every page once so that the server
is not the bottleneck, and ``python -m tests.support.k8s_api`` serves such
pages from a process of its own, printing one JSON line (``url``, ``total_bytes``, ``pages``) when ready.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import ipaddress
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

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.k8s_nodes import generate_nodes, make_node, sample_nodes

__all__ = [
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

DEFAULT_GIT_VERSION: Final = "v1.31.1-gke.1678000"
RESOURCE_VERSION: Final = "48151623"
KUBE_SYSTEM_UID: Final = "6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30"
NAMESPACES_PATH: Final = "/api/v1/namespaces/"


def version_info(git_version: str = DEFAULT_GIT_VERSION) -> dict[str, str]:
    """The body of ``GET /version`` for ``git_version``."""
    major, minor = git_version.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": git_version,
        "gitCommit": "3b1b0f2e9c4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b",
        "gitTreeState": "clean",
        "buildDate": "2026-09-10T20:07:51Z",
        "goVersion": "go1.22.6 X:boringcrypto",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def namespace_object(name: str, uid: str) -> dict[str, Any]:
    """A ``Namespace`` as the API server serves it."""
    return {
        "kind": "Namespace",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": "4",
            "creationTimestamp": "2026-01-12T08:41:07Z",
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def encode_continue(offset: int) -> str:
    """An opaque continue token, shaped like the API server's (base64 of a small JSON object)."""
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": int(RESOURCE_VERSION), "start": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_continue(token: str) -> int:
    """The offset inside a continue token; ``ValueError`` when the token is not one of ours."""
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
    except (binascii.Error, json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise ValueError(f"continue key is not valid: {token!r}") from e
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"continue key is not valid: {token!r}")
    return offset


def node_list_page(items: Sequence[dict[str, Any]], *, offset: int, limit: int | None, total: int) -> bytes:
    """The JSON body of one ``NodeList`` page starting at ``offset``."""
    end = total if limit is None else min(total, offset + limit)
    metadata: dict[str, Any] = {"resourceVersion": RESOURCE_VERSION}
    if end < total:
        metadata["continue"] = encode_continue(end)
        metadata["remainingItemCount"] = total - end
    body = {"kind": "NodeList", "apiVersion": "v1", "metadata": metadata, "items": list(items[offset:end])}
    return json.dumps(body, separators=(",", ":")).encode()


_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrebuiltPages:
    """Every page of a node list, rendered once: for benchmarks where the server must not be the bottleneck."""

    page_size: int
    pages: dict[int, bytes]  # offset -> page body
    total: int

    @property
    def total_bytes(self) -> int:
        """Bytes of all pages together."""
        return sum(len(page) for page in self.pages.values())


def prebuild_pages(nodes: Iterable[dict[str, Any]], page_size: int) -> PrebuiltPages:
    """Render the pages of ``nodes`` for ``limit=page_size``, holding only one page of node objects at a time."""
    rendered: list[tuple[int, bytes]] = []  # (item count, page without continue)
    chunk: list[dict[str, Any]] = []
    for node in nodes:
        chunk.append(node)
        if len(chunk) == page_size:
            rendered.append((len(chunk), node_list_page(chunk, offset=0, limit=None, total=len(chunk))))
            chunk = []
    if chunk or not rendered:
        rendered.append((len(chunk), node_list_page(chunk, offset=0, limit=None, total=len(chunk))))
    total = sum(count for count, _ in rendered)
    pages: dict[int, bytes] = {}
    offset = 0
    for count, page in rendered:
        end = offset + count
        pages[offset] = _with_continue(page, end, total) if end < total else page
        offset = end
    return PrebuiltPages(page_size=page_size, pages=pages, total=total)


def _with_continue(page: bytes, end: int, total: int) -> bytes:
    meta = json.dumps({"resourceVersion": RESOURCE_VERSION}, separators=(",", ":")).encode()
    paged = {"resourceVersion": RESOURCE_VERSION, "continue": encode_continue(end), "remainingItemCount": total - end}
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


def status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    """A ``metav1.Status`` error body, as the API server sends it."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class KubeApiStandIn:
    """The stand-in server. Use as a context manager, or ``start()``/``stop()``.

    Args:
        nodes: the Node objects served by ``/api/v1/nodes``.
        pages: pre-rendered pages, served when a request's ``limit`` equals their page size.
        git_version: ``gitVersion`` served by ``/version``.
        token: when set, requests must carry ``Authorization: Bearer <token>``; others get 401.
        tls: a ``(certfile, keyfile)`` pair to serve HTTPS (see ``make_tls_files``).
        namespaces: namespace name -> UID, served by ``/api/v1/namespaces/<name>``; others get 404.
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
    ) -> None:
        self.nodes: list[dict[str, Any]] = list(nodes)
        self.namespaces = {"kube-system": KUBE_SYSTEM_UID} if namespaces is None else dict(namespaces)
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
        """Answer the next ``times`` requests under ``path`` with ``status`` and a ``Status`` body."""
        body = status_body(status, reason or "InternalError", f"scripted failure {status}")
        with self._lock:
            self._failures.extend(Failure(path, status, body, headers or {}) for _ in range(times))

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
        if name in self.namespaces:
            return 200, json.dumps(namespace_object(name, self.namespaces[name])).encode(), {}
        return 404, json.dumps(status_body(404, "NotFound", f'namespaces "{name}" not found')).encode(), {}

    def _node_page(self, query: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        try:
            offset = decode_continue(query["continue"]) if query.get("continue") else 0
            limit = int(query["limit"]) if query.get("limit") else None
        except ValueError as e:
            return 400, json.dumps(status_body(400, "BadRequest", str(e))).encode(), {}
        limit = limit if limit and limit > 0 else None
        if self.pages is not None and limit == self.pages.page_size and offset in self.pages.pages:
            return 200, self.pages.pages[offset], {}
        return 200, node_list_page(self.nodes, offset=offset, limit=limit, total=len(self.nodes)), {}


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


def write_kubeconfig(path: Path, server: str, *, token: str | None = None, ca_file: Path | None = None) -> Path:
    """Write a kubeconfig whose current context points at ``server``; returns ``path``."""
    cluster: dict[str, Any] = {"server": server}
    if ca_file is not None:
        cluster["certificate-authority"] = str(ca_file)
    user: dict[str, Any] = {"token": token} if token else {}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "stand-in", "cluster": cluster}],
        "users": [{"name": "stand-in", "user": user}],
        "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in"}}],
        "current-context": "stand-in",
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML, and the client reads it as such
    return path


def make_tls_files(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` and its key, as ``(certfile, keyfile)``; the cert is its own CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "apiserver.crt", directory / "apiserver.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certfile, keyfile


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
