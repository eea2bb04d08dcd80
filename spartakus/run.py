"""``make run``: the collector side on one machine (ingest, a DuckDB writer, the dashboard), no cloud account.

Checks the broker (starting one of its own when none answers, see ``spartakus.own_broker``), starts the components,
says when each is ready; on Ctrl-C, SIGTERMs them and waits, bounded, then stops the broker it started."""

import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self, TextIO
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.flags import DEFAULT_AMQP_URL, AmqpUrlFlag
from runtime.settings import (
    ConfigError,
    exit_config_error,
    load_settings,
    redact_url,
    settings_config,
    split_amqp_urls,
)
from runtime.stores import StoreURL, parse_database
from spartakus.own_broker import OwnBroker, OwnBrokerError, local_target, start_own_broker

PROG: Final = "python -m spartakus.run"
COMPONENTS: Final = (sys.executable, "-m", "spartakus")
UNREACHABLE: Final = """RabbitMQ is not reachable at {url} ({reason}).
Spartakus queues every report in RabbitMQ (SPARTAKUS_AMQP_URL names another). Start one, then run this again:
  docker compose up -d rabbitmq                                            # from this repository's compose.yaml
  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached   # or the OS package"""
NEXT_STEPS: Final = """
Point a volunteer here:  spartakus volunteer --cluster-id=$(uuidgen) --database=http://localhost:{port} --period=0
See what was stored:     spartakus reports --database={database}   # latest report per cluster; --json for JSON{extra}
Ctrl-C stops everything; writers finish their batch first."""
DUCKDB_CLI: Final = """
                         duckdb -readonly {path} 'FROM reports_dedup'   # or the DuckDB CLI, while the writer is idle
The writer lets go of the DuckDB file when it is idle, and after a batch when a reader waits, so these
read it while everything runs."""
DASHBOARD: Final = """
See the adoption page:   http://localhost:{port}/   (JSON: http://localhost:{port}/api/adoption)"""


class RunSettings(BaseSettings):
    """Run ingest and writers on this machine. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = SettingsConfigDict(**settings_config(PROG), cli_shortcuts={"start-broker": "broker"})
    amqp_url: AmqpUrlFlag = Field(default=DEFAULT_AMQP_URL, description="RabbitMQ. [SPARTAKUS_AMQP_URL]")
    port: int = Field(default=8080, ge=1, le=65535, description="Ingest HTTP port. [SPARTAKUS_PORT]")
    data_dir: Path = Field(default=Path("data"), description="Store file and logs. [SPARTAKUS_DATA_DIR]")
    database: str = Field(default="", description="Store; default duckdb:///<data-dir>/spartakus.duckdb.")
    writers: int = Field(default=1, ge=1, le=32, description="Writer processes; 1 for DuckDB. [SPARTAKUS_WRITERS]")
    metrics_port: int = Field(default=9100, ge=1, le=65000, description="First writer's /metrics port.")
    dashboard_port: int = Field(default=8090, ge=1, le=65535, description="The dashboard's port (DuckDB, BigQuery).")
    ready_timeout: float = Field(default=60, gt=0, description="Seconds to wait for the components to be ready.")
    drain_timeout: float = Field(default=30, gt=0, description="Seconds the components get to stop cleanly.")
    start_broker: bool = Field(
        default=True,
        description="Start a RabbitMQ of its own (stopped again at exit) when none answers; --no-broker: never. "
        "[SPARTAKUS_START_BROKER]",
    )

    @model_validator(mode="after")
    def _one_writer_per_duckdb_file(self) -> Self:
        self.database = self.database or f"duckdb:///{self.data_dir / 'spartakus.duckdb'}"
        if store_of(self).kind == "duckdb" and self.writers > 1:
            raise ValueError("DuckDB allows a single writer process per file: use --writers=1, or a bigquery:// store")
        return self


def store_of(settings: RunSettings) -> StoreURL:
    """The store ``--database`` names (checked as the writer checks it)."""
    return parse_database(settings.database)


class BrokerUnreachableError(Exception):
    """Nothing at the AMQP URL completes the first step of an AMQP 0-9-1 handshake."""


def check_broker(url: str, *, timeout: float = 3.0) -> None:
    """Send the AMQP 0-9-1 header, expect Connection.Start (no client library); else raise BrokerUnreachableError."""
    parts = urlsplit(url)
    if parts.scheme not in {"amqp", "amqps"}:
        raise BrokerUnreachableError(f"{redact_url(url)!r} is not an amqp:// or amqps:// URL")
    host, port, reply = parts.hostname or "localhost", parts.port or (5671 if parts.scheme == "amqps" else 5672), b""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            tls = parts.scheme == "amqps"
            sock = ssl.create_default_context().wrap_socket(raw, server_hostname=host) if tls else raw
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            while len(reply) < 11 and (chunk := sock.recv(11 - len(reply))):
                reply += chunk
    except OSError as e:
        raise BrokerUnreachableError(f"{host}:{port}: {e.strerror or e}") from e
    if reply[:3] != b"\x01\x00\x00" or reply[7:11] != b"\x00\x0a\x00\x0a":  # method frame, channel 0: Connection.Start
        raise BrokerUnreachableError(f"{host}:{port} answered, but not as an AMQP 0-9-1 broker")


def answering_broker(urls: str) -> str:
    """The first of the comma-separated ``urls`` whose broker answers; else raise BrokerUnreachableError."""
    reasons = []
    for url in split_amqp_urls(urls):
        try:
            check_broker(url)
        except BrokerUnreachableError as e:
            reasons.append(str(e))
            continue
        return url
    raise BrokerUnreachableError("; ".join(reasons))


@dataclass
class Child:
    """One component process, and the URL that answers 200 once it is ready."""

    name: str
    process: subprocess.Popen[bytes]
    ready_url: str
    log: Path
    summary: str

    def ready(self) -> bool:
        """Whether the component answers 200 on its readiness URL."""
        try:
            with urllib.request.urlopen(self.ready_url, timeout=1) as response:  # noqa: S310  # http://127.0.0.1 only
                return int(response.status) == 200
        except OSError:
            return False


def has_dashboard(settings: RunSettings) -> bool:
    """Whether the store is one the dashboard reads (not ``stdout``)."""
    return store_of(settings).kind != "stdout"


def start_children(settings: RunSettings, *, command: Sequence[str] = COMPONENTS) -> list[Child]:
    """Start ingest and writers, logging to <data-dir>/logs; own process groups keep a terminal's Ctrl-C off them."""
    (logs := settings.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    specs = [("ingest", [f"--port={settings.port}"], f"{settings.port}/readyz", f"http://localhost:{settings.port}")]
    for i, port in enumerate(range(settings.metrics_port, settings.metrics_port + settings.writers), start=1):
        args = [f"--database={settings.database}", f"--metrics-port={port}"]
        specs.append((f"writer-{i}", args, f"{port}/metrics", f"{settings.database} (metrics :{port})"))
    if has_dashboard(settings):
        port = settings.dashboard_port
        args = [f"--database={settings.database}", f"--port={port}"]
        specs.append(("dashboard", args, f"{port}/healthz", f"http://localhost:{port}"))
    env = {**os.environ, "SPARTAKUS_AMQP_URL": settings.amqp_url}  # not in argv, which ps shows to every user
    children = []
    for name, args, path, summary in specs:
        with (log := logs / f"{name}.log").open("ab") as out:
            argv = [*command, name.partition("-")[0], *args]
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, process_group=0)  # noqa: S603  # own command, no shell
        children.append(Child(name, proc, f"http://127.0.0.1:{path}", log, summary))
    return children


def wait_ready(children: list[Child], *, timeout: float, stop: threading.Event, out: TextIO) -> str | None:
    """Print a line per component as it becomes ready, dots meanwhile; None once all are, "" if stopped, else why."""
    pending, deadline, dotted = list(children), time.monotonic() + timeout, False
    while pending:
        for child in list(pending):
            if (code := child.process.poll()) is not None:
                return f"{child.name} exited with code {code} before it was ready; its log: {child.log}"
            if child.ready():
                pending.remove(child)
                lead, dotted = "\n" if dotted else "", False
                print(f"{lead}  {child.name:<9} ready: {child.summary}", file=out, flush=True)
        if pending and (stop.wait(0.5) or time.monotonic() > deadline):
            return "" if stop.is_set() else f"{pending[0].name} not ready after {timeout:g}s: {pending[0].log}"
        if pending:
            print(".", end="", file=out, flush=True)
            dotted = True
    return None


def stop_children(children: list[Child], *, timeout: float, out: TextIO) -> list[str]:
    """SIGTERM every child, wait up to ``timeout`` in all, SIGKILL the rest; return those that did not stop cleanly."""
    for child in children:
        child.process.send_signal(signal.SIGTERM)  # a no-op for a child that already exited
    deadline, unclean = time.monotonic() + timeout, []
    for child in children:
        try:
            code = child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            code = child.process.wait()
            print(f"  {child.name} killed after {timeout:g}s; its unacked reports will be redelivered", file=out)
        if code not in {0, -signal.SIGTERM}:  # uvicorn, for one, re-raises the SIGTERM it handled once it is done
            unclean.append(f"{child.name} (exit code {code})")
    return unclean


def supervise(children: list[Child], *, settings: RunSettings, stop: threading.Event, out: TextIO) -> int:
    """Wait until ready, say how to use the collector, run until ``stop`` is set or a child dies, then stop all."""
    failure = wait_ready(children, timeout=settings.ready_timeout, stop=stop, out=out)
    if failure is None:
        store = store_of(settings)
        duckdb = DUCKDB_CLI.format(path=store.path) if store.kind == "duckdb" else ""
        dashboard = DASHBOARD.format(port=settings.dashboard_port) if has_dashboard(settings) else ""
        steps = NEXT_STEPS.format(port=settings.port, database=settings.database, extra=duckdb + dashboard)
        print(steps, file=out, flush=True)
    while failure is None and not stop.wait(0.5):
        if dead := next((c for c in children if c.process.poll() is not None), None):
            failure = f"{dead.name} exited with code {dead.process.returncode}; its log: {dead.log}"
    reason = f"\n{failure}" if failure else ""
    print(f"{reason}\nstopping: SIGTERM, then up to {settings.drain_timeout:g}s to finish", file=out, flush=True)
    unclean = stop_children(children, timeout=settings.drain_timeout, out=out)
    print(f"stopped, not cleanly: {', '.join(unclean)}" if unclean else "stopped", file=out, flush=True)
    return 1 if unclean or failure else 0


def broker_for_run(settings: RunSettings, *, stop: threading.Event) -> tuple[str, OwnBroker | None] | int:
    """The URL of a broker that answers, and the broker started for it if none did; else the exit code.

    An answering broker is used as it is (and never stopped). Otherwise, unless ``--no-broker``, one is started for
    the first URL (``spartakus.own_broker``); when that is impossible, the message says how to start one."""
    try:
        answering = answering_broker(settings.amqp_url)
    except BrokerUnreachableError as e:
        reason = str(e)
    else:
        print(f"RabbitMQ    answers at {redact_url(answering)}", flush=True)
        return answering, None
    url, own = split_amqp_urls(settings.amqp_url)[0], None
    if settings.start_broker and local_target(url) is not None:
        print(f"RabbitMQ    none answers at {redact_url(url)}: starting one (--no-broker: never)", flush=True)
        try:
            own = start_own_broker(url, settings.data_dir, answers=lambda: _answers(url), stop=stop)
        except OwnBrokerError as e:
            print(f"RabbitMQ could not be started: {e}", file=sys.stderr)
            return 1
    if own is None and stop.is_set():
        print("stopped", flush=True)
        return 0
    if own is None:
        print(UNREACHABLE.format(url=redact_url(settings.amqp_url), reason=reason), file=sys.stderr)
        return 1
    print(f"RabbitMQ    started {own.description} ({redact_url(url)})", flush=True)
    return url, own


def _answers(url: str) -> bool:
    try:
        check_broker(url, timeout=1.0)
    except BrokerUnreachableError:
        return False
    return True


def stop_own_broker(own: OwnBroker) -> int:
    """Stop the broker this run started, once the components are gone; 1 if it did not stop cleanly."""
    print(f"RabbitMQ    stopping {own.description}", flush=True)
    try:
        own.stop()
    except OwnBrokerError as e:
        print(f"RabbitMQ    {e}", flush=True)
        return 1
    print("RabbitMQ    stopped", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Find or start the broker, start the collector components, and supervise them; returns the exit code."""
    try:
        settings = load_settings(RunSettings, argv)
    except ConfigError as e:
        return exit_config_error(PROG, e)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the broker: a node booting is stopped on Ctrl-C too
        signal.signal(signum, lambda *_: stop.set())
    found = broker_for_run(settings, stop=stop)
    if isinstance(found, int):
        return found
    url, own = found
    # The components get the URL that answered; with one started here, that broker alone.
    settings.amqp_url = settings.amqp_url if own is None else url
    print(f"store       {settings.database}")
    dashboard = " and the dashboard" if has_dashboard(settings) else ""
    print(f"starting ingest, {settings.writers} writer(s){dashboard}, logs in {settings.data_dir / 'logs'}", flush=True)
    try:
        code = supervise(start_children(settings), settings=settings, stop=stop, out=sys.stdout)
    finally:
        stopped = 0 if own is None else stop_own_broker(own)
    return code or stopped


if __name__ == "__main__":
    sys.exit(main())
