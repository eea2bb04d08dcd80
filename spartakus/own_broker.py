"""The broker ``make run`` starts when none answers: a private node from the installed RabbitMQ, else compose's.

In order:

1. a private node (``runtime.private_node``) under ``<data-dir>/rabbitmq``, listening on the URL's host and port,
   with its own node name, Erlang cookie, distribution port and epmd; its name is kept in that directory, so the
   next run starts the same node on the same data and writes the reports still queued;
2. else ``docker compose up -d --wait rabbitmq`` from this repository's ``compose.yaml``, its port mapped to the
   URL's, when a Docker engine answers;
3. else nothing, and the caller explains how to start a broker.

Either is stopped by the caller once the components have drained (a node SIGTERMed, the compose service
``stop``-ped, its volume kept). A broker that answered already is never started or stopped here. Only an
``amqp://`` URL on a loopback address gets one: a broker elsewhere, or with TLS, is the operator's.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import unquote, urlsplit

from runtime.private_node import NodeError, NodeLayout, PrivateNode, node_tools, unused_port
from runtime.settings import redact_url

COMPOSE_FILE: Final = Path(__file__).resolve().parents[1] / "compose.yaml"
"""Present in a clone of the repository, absent from an installed wheel (then compose is not tried)."""
COMPOSE_SERVICE: Final = "rabbitmq"
NODE_DIR: Final = "rabbitmq"
NODE_NAME_FILE: Final = "node-name"
BOOT_TIMEOUT: Final = 120.0
"""Seconds a node (or the compose service) may take to accept connections; a first boot on a busy machine is slow."""
BOOT_STOP_TIMEOUT: Final = 15.0
"""Seconds a node interrupted while booting gets to stop before it is killed."""


class OwnBrokerError(Exception):
    """A way to start a broker was available but failed, or the broker did not stop cleanly; the message says why
    and where its log is."""


@dataclass(frozen=True)
class LocalTarget:
    """What the URL asks of a broker started here: where it listens and whom it lets in."""

    url: str
    host: str
    """The loopback IPv4 address to listen on (``localhost`` resolved)."""
    port: int
    user: str
    password: str
    vhost: str


def local_target(url: str) -> LocalTarget | None:
    """The broker ``url`` names, if one may be started for it here: ``amqp://`` on a loopback address; else None."""
    parts = urlsplit(url)
    if parts.scheme != "amqp":
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname or "localhost", None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return None
    host = str(infos[0][4][0]) if infos else ""
    if not host or not ipaddress.ip_address(host).is_loopback:
        return None
    vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    user, password = unquote(parts.username or "guest"), unquote(parts.password or "guest")
    return LocalTarget(url, host, parts.port or 5672, user, password, vhost)


class OwnBroker(Protocol):
    """A broker started here, which the caller stops once the components are gone."""

    @property
    def description(self) -> str:
        """What was started, for the ``RabbitMQ    started ...`` line."""

    def stop(self) -> None:
        """Stop it, keeping its data for the next run. Raises OwnBrokerError if it did not stop cleanly."""


@dataclass
class NodeBroker:
    """A private node from the installed ``rabbitmq-server``."""

    node: PrivateNode
    where: Path

    @property
    def description(self) -> str:
        return f"a private node in {self.where}"

    def stop(self) -> None:
        try:
            self.node.stop()
        except NodeError as e:
            raise OwnBrokerError(f"the private node {e}") from e


@dataclass
class ComposeBroker:
    """compose.yaml's ``rabbitmq`` service, started with ``docker compose up``."""

    compose_file: Path
    env: dict[str, str]

    @property
    def description(self) -> str:
        return f"the compose service {COMPOSE_SERVICE}"

    def stop(self) -> None:
        _compose(self.compose_file, self.env, "stop", COMPOSE_SERVICE)


def _node_name(base: Path) -> str:
    """The node name this data directory was first started with: RabbitMQ keys its data by node name."""
    path = base / NODE_NAME_FILE
    if not path.exists():
        path.write_text(f"spartakus-{secrets.token_hex(4)}@localhost\n")
    return path.read_text().strip()


def _write_cookie(home: Path) -> None:
    """An Erlang cookie of the node's own, shared with nothing but its ``rabbitmqctl``."""
    cookie = home / ".erlang.cookie"
    if not cookie.exists():
        cookie.write_text(secrets.token_hex(16).upper())
        cookie.chmod(0o400)


def _node_running(base: Path, name: str) -> bool:
    """Whether a node of this data directory still runs (a run killed with SIGKILL leaves it behind)."""
    try:
        pid = int((base / "node.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return name.encode() in cmdline


def node_config(target: LocalTarget) -> str:
    """``rabbitmq.conf`` for a node that is the broker ``target`` names; users and vhost are made on first boot."""
    lines = [
        f"listeners.tcp.1 = {target.host}:{target.port}",
        f"default_user = {target.user}",
        f"default_pass = {target.password}",
        f"default_vhost = {target.vhost}",
    ]
    return "\n".join(lines) + "\n"


def start_private_node(
    target: LocalTarget, data_dir: Path, server: str, *, answers: Callable[[], bool], stop: threading.Event
) -> NodeBroker | None:
    """Start the private node of ``data_dir`` for ``target`` and wait until ``answers()``; None if ``stop`` came first.

    Raises:
        OwnBrokerError: the node is already running on other ports, exited, or did not answer in time.
    """
    base = data_dir / NODE_DIR
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = _node_name(base)
    if _node_running(base, name):
        raise OwnBrokerError(f"the private node {name} in {base} runs, but not at {redact_url(target.url)}")
    layout = NodeLayout(name, base, base / "home", target.port, unused_port(), target.host, unused_port())
    layout.write_support_files()
    # For whoever must stop a node that a killed run left behind: `ERL_EPMD_PORT=$(cat epmd-port) epmd -kill`.
    (base / "epmd-port").write_text(f"{layout.epmd_port}\n")
    _write_cookie(layout.home)
    layout.config_file.write_text(node_config(target))
    layout.config_file.chmod(0o600)  # it holds the password
    broker = NodeBroker(PrivateNode.start(layout, server), base)
    try:
        if broker.node.wait_ready(answers, timeout=BOOT_TIMEOUT, stop=stop):
            return broker
    except NodeError as e:
        with suppress(NodeError):  # why it did not start is the news, not how it was stopped
            broker.node.stop()
        raise OwnBrokerError(f"the private node {e}") from e
    # Interrupted while it boots: the node has served nothing yet, and a booting node may not act on SIGTERM before
    # it has booted. Killing it then is safe: RabbitMQ keeps what it confirmed through a power cut, and more so this.
    with suppress(NodeError):
        broker.node.stop(timeout=BOOT_STOP_TIMEOUT)
    return None


def _port_taken(target: LocalTarget) -> bool:
    try:
        with socket.create_connection((target.host, target.port), timeout=1):
            return True
    except OSError:
        return False


def docker_engine_answers() -> bool:
    """Whether a Docker engine (not just the client) answers."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=20)  # noqa: S607
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _compose(compose_file: Path, env: dict[str, str], *args: str) -> None:
    command = ["docker", "compose", "-f", str(compose_file), *args]
    try:
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=BOOT_TIMEOUT)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as e:
        raise OwnBrokerError(f"{' '.join(command[:4])} {' '.join(args)}: {e}") from e
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise OwnBrokerError(f"docker compose {' '.join(args)} failed (exit code {result.returncode}):\n{tail}")


def start_compose_service(target: LocalTarget, compose_file: Path) -> ComposeBroker:
    """``docker compose up -d --wait rabbitmq`` with the URL's port and credentials.

    Raises:
        OwnBrokerError: compose failed; its last lines say why.
    """
    env = {
        **os.environ,
        "RABBITMQ_PORT": str(target.port),
        "RABBITMQ_DEFAULT_USER": target.user,
        "RABBITMQ_DEFAULT_PASS": target.password,
    }
    _compose(compose_file, env, "up", "--detach", "--wait", COMPOSE_SERVICE)
    return ComposeBroker(compose_file, env)


def start_own_broker(
    url: str, data_dir: Path, *, answers: Callable[[], bool], stop: threading.Event, compose_file: Path = COMPOSE_FILE
) -> OwnBroker | None:
    """Start a broker for ``url`` in the order the module docstring gives; None when no way is available (or
    ``stop`` was set while the node booted).

    Raises:
        OwnBrokerError: a way was available, and it failed.
    """
    target = local_target(url)
    if target is None:
        return None
    if _port_taken(target):
        raise OwnBrokerError(f"{target.host}:{target.port} is taken by a server that is not an AMQP broker")
    if (tools := node_tools()) is not None:
        return start_private_node(target, data_dir, tools[0], answers=answers, stop=stop)
    if compose_file.exists() and docker_engine_answers():
        return start_compose_service(target, compose_file)
    return None
