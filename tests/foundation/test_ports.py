"""Ports for the processes a test starts: never handed out twice, never one an outgoing connection can take."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.services import free_port


def test_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= port < low for port in ports)
    with socket.create_server(("127.0.0.1", ports[-1])) as server:
        assert server.getsockname()[1] == ports[-1]
