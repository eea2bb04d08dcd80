"""Running the gateway: uvicorn on uvloop and httptools, in one or several worker processes.

Each worker is a full gateway with its own event loop and AMQP connection.
With several, the parent binds one ``SO_REUSEPORT`` socket per worker, so the
kernel spreads connections evenly, forks the workers, forwards SIGTERM to them
and exits when they have.

SIGTERM makes uvicorn stop accepting, finish the requests in flight (each
waits for its confirm), and then run the lifespan shutdown, which closes the
publisher after any confirms still outstanding.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
from types import FrameType
from typing import Final

import uvicorn

from ingest.amqp.publisher import AmqpPublisher
from ingest.app import IngestApp
from ingest.body import BodyLimits
from ingest.budget import MemoryBudget
from ingest.limits import FloodLimits
from ingest.metrics import IngestMetrics
from ingest.settings import IngestSettings
from ingest.sources import SourceResolver, parse_networks
from runtime.connections import ConnectionGuard, ConnectionLimits, connection_budget, guarded_protocol

LISTEN_BACKLOG: Final = 2048

log = logging.getLogger(__name__)


def build_app(settings: IngestSettings, metrics: IngestMetrics) -> IngestApp:
    """The ASGI app with its publisher, from ``settings``."""
    publisher = AmqpPublisher(
        amqp_url=settings.amqp_url,
        queue=settings.queue,
        confirm_timeout=settings.confirm_timeout.total_seconds(),
        connection_name=settings.connection_name,
        metrics=metrics,
    )
    return IngestApp(
        publisher=publisher,
        metrics=metrics,
        limits=BodyLimits(max_raw=settings.max_body_bytes, max_decompressed=settings.max_decompressed_bytes),
        retry_after=settings.retry_after,
        shutdown_timeout=settings.shutdown_timeout.total_seconds(),
        budget=MemoryBudget(settings.max_inflight_bytes, small_reserve=settings.max_inflight_bytes // 8),
        floods=FloodLimits(
            min_interval=int(settings.min_report_interval.total_seconds()),
            new_per_hour=settings.new_clusters_per_source,
        ),
        sources=SourceResolver(parse_networks(settings.trusted_proxies)),
    )


def serve(settings: IngestSettings) -> int:
    """Serve until SIGTERM or SIGINT; returns the process exit code."""
    if settings.workers == 1:
        return _serve_worker(settings, None)
    return _supervise(settings)


def build_guard(settings: IngestSettings, metrics: IngestMetrics) -> ConnectionGuard:
    """The connection limits of one server process, from ``settings`` and the file limit."""
    limits = ConnectionLimits(
        max_connections=connection_budget(settings.max_connections),
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_timeout.total_seconds(),
        body_timeout=settings.body_timeout.total_seconds(),
    )
    return ConnectionGuard(limits, metrics.connections, settings.retry_after, busy_error="gateway busy")


def _serve_worker(settings: IngestSettings, sock: socket.socket | None) -> int:
    metrics = IngestMetrics()
    guard = build_guard(settings, metrics)
    log.info("connection limits", extra={"max_connections": guard.limits.max_connections})
    config = uvicorn.Config(
        build_app(settings, metrics),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http=guarded_protocol(guard),
        # Plain HTTP only: an Upgrade request is answered as an ordinary request.
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=False,  # the gateway never looks at client addresses
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=max(1, round(settings.idle_timeout.total_seconds())),
        # Requests wait for at most one confirm timeout; the margin lets them answer.
        timeout_graceful_shutdown=int(settings.shutdown_timeout.total_seconds()) + 1,
    )
    server = uvicorn.Server(config)
    # After a graceful stop uvicorn raises the signal again, to the handler that
    # was in place before it started. A stop on request is a success here, so
    # that handler does nothing and the exit code says whether startup worked.
    previous = {signum: signal.signal(signum, _stopped) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock] if sock is not None else None)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0 if server.started else 1


def _stopped(_signum: int, _frame: FrameType | None) -> None:
    """Stand-in handler for the signal uvicorn raises again after its graceful shutdown."""


def _listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` sockets on one port; with ``SO_REUSEPORT`` the kernel balances connections across them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    reuse_port = hasattr(socket, "SO_REUSEPORT")
    sockets: list[socket.socket] = []
    for _ in range(count if reuse_port else 1):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]  # with --port 0, the rest join the port the first one got
        sock.listen(LISTEN_BACKLOG)
        sock.set_inheritable(True)
        sockets.append(sock)
    return sockets if reuse_port else sockets * count


def _worker_main(settings: IngestSettings, sock: socket.socket) -> None:
    raise SystemExit(_serve_worker(settings, sock))


def _supervise(settings: IngestSettings) -> int:
    sockets = _listening_sockets(settings.host, settings.port, settings.workers)
    log.info("starting workers", extra={"workers": settings.workers, "port": sockets[0].getsockname()[1]})
    # fork, not spawn: a worker inherits its socket and the settings built at the CLI.
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_worker_main, args=(settings, sock), daemon=False) for sock in sockets]
    for worker in workers:
        worker.start()
    for sock in set(sockets):
        sock.close()
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        # Ctrl-C already reached the workers through the process group; a
        # second signal would make uvicorn skip its graceful shutdown.
        if signum == signal.SIGTERM:
            for worker in workers:
                if worker.pid is not None and worker.is_alive():
                    worker.terminate()

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    running = list(workers)
    failed = False
    while running:
        ready = set(multiprocessing.connection.wait([worker.sentinel for worker in running]))
        for worker in [worker for worker in running if worker.sentinel in ready]:
            running.remove(worker)
            worker.join()
            if not stopping and worker.exitcode != 0:
                log.error("worker exited; stopping the others", extra={"exit_code": worker.exitcode})
                stopping = True
                for other in running:
                    other.terminate()
            failed = failed or worker.exitcode != 0
    return 1 if failed else 0
