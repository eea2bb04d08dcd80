"""Hostile clients of the gateway (and the dashboard), and a probe of how requests fare meanwhile (loopback only).

Each attack is a context manager that runs until it exits; the probe posts
small reports on fresh connections and records each status and latency. The
tests assert on the probe's figures and the benchmark prints them.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import json
import resource
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

JSON_HEADERS = {"Content-Type": "application/json"}


def small_report(cluster_id: str) -> bytes:
    """A one-node report, as the Go volunteer sends it."""
    capacity = [{"resource": "cpu", "value": "4"}, {"resource": "pods", "value": "110"}]
    node = {"id": "5f4dcc3b5aa765d61d8327deb882cf99", "operatingSystem": "linux", "capacity": capacity}
    report = {"version": "v1.1.0", "timestamp": "", "clusterID": cluster_id, "nodes": [node]}
    return json.dumps(report).encode()


def minimal_nodes_gzip(inflated_bytes: int = 256 * 1024) -> bytes:
    """A gzip body of about 600 bytes that inflates to ``inflated_bytes`` of minimal nodes (``{"id":"a"}``).

    Valid, within every size cap, and some 170 ms of validation each.
    """
    node = b'{"id":"a"},'
    head, tail = b'{"clusterID":"bomb","nodes":[', b'{"id":"a"}]}'
    count = (inflated_bytes - len(head) - len(tail)) // len(node)
    return gzip.compress(head + node * count + tail, 9)


@dataclass
class Probe:
    """What small reports got: one (status, seconds) per request; status 0 when the connection failed."""

    results: list[tuple[int, float]] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def statuses(self) -> set[int]:
        """Every status seen."""
        return {status for status, _ in self.results}

    def percentile_ms(self, fraction: float) -> float:
        """Latency percentile in milliseconds."""
        latencies = sorted(seconds for _, seconds in self.results)
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000

    @property
    def rate(self) -> float:
        """Requests answered per second."""
        return len(self.results) / self.elapsed if self.elapsed else 0.0


def _exchange(
    port: int,
    method: str,
    path: str,
    *,
    timeout: float,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> int:
    """One request on a fresh connection; the status, or 0 if the connection failed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        answer = connection.getresponse()
        answer.read()
    except (OSError, http.client.HTTPException):
        return 0
    else:
        return answer.status
    finally:
        connection.close()


def post(port: int, body: bytes, headers: dict[str, str], timeout: float = 10) -> int:
    """POST on a fresh connection; the status, or 0 if the connection failed."""
    return _exchange(port, "POST", "/api/v1", timeout=timeout, body=body, headers=headers)


def get(port: int, path: str, timeout: float = 10) -> int:
    """GET ``path`` on a fresh connection; the status, or 0 if the connection failed."""
    return _exchange(port, "GET", path, timeout=timeout)


def probe_small_reports(port: int, *, seconds: float, threads: int = 2) -> Probe:
    """Post small reports back to back from ``threads`` threads for ``seconds``, each on a fresh connection."""
    return _probe(lambda: post(port, small_report(f"probe-{uuid.uuid4()}"), JSON_HEADERS), seconds, threads)


def probe_page(port: int, path: str, *, seconds: float, threads: int = 2) -> Probe:
    """GET ``path`` back to back from ``threads`` threads for ``seconds``, each on a fresh connection."""
    return _probe(lambda: get(port, path), seconds, threads)


def _probe(request: Callable[[], int], seconds: float, threads: int) -> Probe:
    probe = Probe()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status = request()
            with lock:
                probe.results.append((status, time.perf_counter() - started))

    started = time.perf_counter()
    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=seconds + 30)
    probe.elapsed = time.perf_counter() - started
    return probe


@contextlib.contextmanager
def _looping(action: Callable[[threading.Event], None], threads: int) -> Iterator[None]:
    stop = threading.Event()
    workers = [threading.Thread(target=action, args=(stop,), daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)


def gzip_validation_load(port: int, *, clients: int = 2) -> contextlib.AbstractContextManager[None]:
    """``clients`` clients posting ``minimal_nodes_gzip`` bodies back to back."""
    body = minimal_nodes_gzip()
    headers = {**JSON_HEADERS, "Content-Encoding": "gzip"}

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            post(port, body, headers, timeout=30)

    return _looping(run, clients)


def gzip_bombs(port: int, bomb: bytes, *, clients: int = 2) -> contextlib.AbstractContextManager[None]:
    """``clients`` clients posting the gzip body ``bomb`` back to back (each answered 413 at the inflated cap)."""
    headers = {**JSON_HEADERS, "Content-Encoding": "gzip"}

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            post(port, bomb, headers, timeout=30)

    return _looping(run, clients)


def huge_headers(
    port: int, *, value_bytes: int = 256 * 1024 * 1024, clients: int = 1
) -> contextlib.AbstractContextManager[None]:
    """``clients`` clients each sending a request whose one header value is ``value_bytes`` long, again and again."""
    block = b"a" * (1024 * 1024)

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: attack\r\nX-Huge: ")
                sent = 0
                while sent < value_bytes and not stop.is_set():
                    sock.sendall(block)
                    sent += len(block)
                sock.sendall(b"\r\n\r\n")
                while sock.recv(65536):
                    pass

    return _looping(run, clients)


@contextlib.contextmanager
def idle_connections(port: int, count: int, *, partial_head_every: int = 5) -> Iterator[list[socket.socket]]:
    """Open ``count`` connections that send nothing (every ``partial_head_every``-th sends half a head) and hold them.

    Raises this process's soft file limit if ``count`` needs it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256 <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count + 256, hard))
    held: list[socket.socket] = []
    try:
        for i in range(count):
            with contextlib.suppress(OSError):
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                held.append(sock)
                if i % partial_head_every == 0:
                    sock.sendall(b"POST /api/v1 HTTP/1.1\r\nHost: attack\r\n")
        yield held
    finally:
        for sock in held:
            sock.close()


def slow_bodies(port: int, count: int, *, every: float = 0.2) -> contextlib.AbstractContextManager[None]:
    """``count`` clients each declaring a 1 MB body and sending one byte of it every ``every`` seconds.

    A client whose connection is closed opens another, as an attacker would.
    """
    head = b"POST /api/v1 HTTP/1.1\r\nHost: attack\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n"

    def run(stop: threading.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(head)
                while not stop.wait(every):
                    sock.sendall(b" ")

    return _looping(run, count)
