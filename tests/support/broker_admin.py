"""Operating the shared RabbitMQ from a test with ``rabbitmqctl``, as an operator would, touching only the test's own.

The broker serves every test on the machine, so a chaos test closes only the
connections of its own processes: those whose client port belongs to one of
them, or whose ``connection_name`` is one it chose. Never all connections.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import psutil

AMQP_PORT: Final = 5672
RABBITMQCTL_TIMEOUT: Final = 60.0


def can_administer(amqp_url: str) -> bool:
    """Whether ``rabbitmqctl`` is on PATH and ``amqp_url`` names this machine's own broker, which it administers."""
    parts = urlsplit(amqp_url)
    local = parts.hostname in {"127.0.0.1", "localhost", "::1"} and (parts.port or AMQP_PORT) == AMQP_PORT
    return local and shutil.which("rabbitmqctl") is not None


def rabbitmqctl(*args: str) -> str:
    """Run ``rabbitmqctl -q <args>`` and return its output; fail the test with its stderr otherwise."""
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=RABBITMQCTL_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


@dataclass(frozen=True)
class BrokerConnection:
    """One client connection as the broker lists it."""

    pid: str
    """The connection's Erlang process id, as ``close_connection`` takes it."""
    peer_port: int
    client_properties: str
    """The client properties as rabbitmqctl prints them (``connection_name`` among them, if the client set one)."""


def list_connections() -> list[BrokerConnection]:
    """Every AMQP connection on the broker."""
    connections = []
    for line in rabbitmqctl(
        "list_connections", "--no-table-headers", "pid", "peer_port", "client_properties"
    ).splitlines():
        pid, port, properties = [*line.split("\t", 2), "", ""][:3]
        if pid.startswith("<") and port.isdigit():
            connections.append(BrokerConnection(pid, int(port), properties))
    return connections


def close_connections(matching: Callable[[BrokerConnection], bool], reason: str) -> list[BrokerConnection]:
    """Close, all at once, the connections ``matching`` selects; returns them.

    One ``rabbitmqctl close_connection`` per connection, run side by side: one
    after the other they would take seconds apart on a busy machine.
    """
    closing = [connection for connection in list_connections() if matching(connection)]
    commands = [
        subprocess.Popen(
            ["rabbitmqctl", "-q", "close_connection", connection.pid, reason],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for connection in closing
    ]
    failures = []
    for command in commands:
        _, stderr = command.communicate(timeout=RABBITMQCTL_TIMEOUT)
        if command.returncode != 0:
            failures.append(stderr.strip())
    if failures:
        raise AssertionError(f"rabbitmqctl close_connection failed: {failures}")
    return closing


def amqp_client_ports(pids: Iterable[int], broker_port: int = AMQP_PORT) -> set[int]:
    """Local ports of the processes' TCP connections to the broker (the broker's ``peer_port``)."""
    ports: set[int] = set()
    for pid in pids:
        try:
            sockets = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        ports.update(s.laddr.port for s in sockets if s.raddr and s.raddr.port == broker_port)
    return ports
