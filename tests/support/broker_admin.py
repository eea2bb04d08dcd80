"""Operating the broker under test with ``rabbitmqctl``, as an operator would, touching only the test's own.

The broker is the one ``SPARTAKUS_TEST_AMQP_URL`` names, and the command that
administers it is ``SPARTAKUS_TEST_RABBITMQCTL``: a command prefix (split as a
shell would), ``rabbitmqctl`` by default, which suits the machine's own broker.
For a node of another version or machine, point it at that node, e.g.
``deploy/rabbitmq4.sh ctl NAME`` or ``rabbitmqctl -n rabbit@other``.

The broker serves every test on the machine, so a chaos test closes only the
connections of its own processes: those whose client port belongs to one of
them, or whose ``connection_name`` is one it chose. Never all connections.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import psutil

AMQP_PORT: Final = 5672
RABBITMQCTL_TIMEOUT: Final = 60.0
RABBITMQCTL_VARIABLE: Final = "SPARTAKUS_TEST_RABBITMQCTL"


def rabbitmqctl_command() -> list[str]:
    """The command prefix that administers the broker under test (``SPARTAKUS_TEST_RABBITMQCTL``)."""
    return shlex.split(os.environ.get(RABBITMQCTL_VARIABLE, "") or "rabbitmqctl")


def can_administer() -> bool:
    """Whether the administering command exists (a path, or a name on PATH)."""
    return shutil.which(rabbitmqctl_command()[0]) is not None


def broker_port(amqp_url: str) -> int:
    """The AMQP port ``amqp_url`` names: the one the broker sees clients' connections arrive on."""
    parts = urlsplit(amqp_url)
    return parts.port or (5671 if parts.scheme == "amqps" else AMQP_PORT)


def rabbitmqctl(*args: str) -> str:
    """Run ``<SPARTAKUS_TEST_RABBITMQCTL> -q <args>`` and return its output; fail the test with its stderr otherwise."""
    command = [*rabbitmqctl_command(), "-q", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RABBITMQCTL_TIMEOUT, check=False)
    if result.returncode != 0:
        raise AssertionError(f"{shlex.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
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


def connections_named(client_name: str) -> list[BrokerConnection]:
    """The connections whose ``connection_name`` property holds ``client_name`` (the gateway appends its pid)."""
    return [c for c in list_connections() if client_name in c.client_properties]


def close_connections(matching: Callable[[BrokerConnection], bool], reason: str) -> list[BrokerConnection]:
    """Close, all at once, the connections ``matching`` selects; returns them.

    One ``rabbitmqctl close_connection`` per connection, run side by side: one
    after the other they would take seconds apart on a busy machine.
    """
    closing = [connection for connection in list_connections() if matching(connection)]
    commands = [
        subprocess.Popen(
            [*rabbitmqctl_command(), "-q", "close_connection", connection.pid, reason],
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


def amqp_client_ports(pids: Iterable[int], broker_port: int) -> set[int]:
    """Local ports of the processes' TCP connections to the broker on ``broker_port`` (the broker's ``peer_port``)."""
    ports: set[int] = set()
    for pid in pids:
        try:
            sockets = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        ports.update(s.laddr.port for s in sockets if s.raddr and s.raddr.port == broker_port)
    return ports
