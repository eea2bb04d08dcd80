"""A RabbitMQ node of one's own, run from the machine's ``rabbitmq-server`` package, that touches no other broker.

A node started here has its own Erlang node name, AMQP port, distribution
port, data, logs, configuration and Erlang cookie (a ``HOME`` of its own,
which ``rabbitmqctl`` uses too). With an epmd port of its own it also has its
own epmd, so not even the machine's epmd (4369) learns of it; that epmd is
stopped with the node. A broker already on the machine is never read,
reconfigured or stopped.

``make run`` starts one under ``data/rabbitmq`` when no broker answers, and
the test suites start them for configurations the machine's broker must not
get. This module only runs subprocesses: it imports no AMQP client.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final

PACKAGE_SCRIPTS: Final = Path("/usr/lib/rabbitmq/bin")
"""Debian's scripts themselves: the ones on PATH switch to the rabbitmq user and drop the environment set here."""
STOP_TIMEOUT: Final = 60.0
"""Seconds a node gets to flush its queues to disk after SIGTERM before it is killed."""
EPMD_STOP_TIMEOUT: Final = 10.0
"""Seconds spent making sure the node's own epmd is gone."""


def package_script(name: str) -> str | None:
    """The path of the package's ``name`` script (``rabbitmq-server``, ``rabbitmqctl``), or None when not installed."""
    packaged = PACKAGE_SCRIPTS / name
    return str(packaged) if packaged.exists() else shutil.which(name)


def node_tools() -> tuple[str, str] | None:
    """``rabbitmq-server`` and ``rabbitmqctl`` as this user runs them, or None when the package is missing."""
    server, ctl = package_script("rabbitmq-server"), package_script("rabbitmqctl")
    return None if server is None or ctl is None else (server, ctl)


def unused_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on now (the kernel's choice)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class NodeError(Exception):
    """The node could not be started, or did not stop."""


@dataclass(frozen=True)
class NodeLayout:
    """Where a node keeps everything, and the ports and name that make it no other node."""

    name: str
    """The Erlang node name, e.g. ``spartakus-1a2b3c4d@localhost``; its data directory is keyed by it."""
    base: Path
    """Configuration, data (``mnesia``) and logs (``log``)."""
    home: Path
    """``$HOME`` of the node and of ``rabbitmqctl``: the Erlang cookie they share is ``home/.erlang.cookie``."""
    amqp_port: int
    dist_port: int
    host: str = "127.0.0.1"
    epmd_port: int | None = None
    """An epmd of the node's own on this port; None registers the node with the machine's epmd."""

    @property
    def config_file(self) -> Path:
        """``rabbitmq.conf``, written by whoever starts the node."""
        return self.base / "rabbitmq.conf"

    @property
    def console_log(self) -> Path:
        """What the node prints while it runs in the foreground."""
        return self.base / "log" / "console.log"

    def environment(self) -> dict[str, str]:
        """The variables that make ``rabbitmq-server`` and ``rabbitmqctl`` this node and nothing else."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        env = {
            **keep,
            "HOME": str(self.home),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.base / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.config_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.base / "node.pid"),
            # The machine's rabbitmq-env.conf names the machine's own node; this node reads an empty one.
            "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }
        if self.epmd_port is not None:
            env["ERL_EPMD_PORT"] = str(self.epmd_port)
        return env

    def write_support_files(self) -> None:
        """Create the directories, an empty plugin list and an empty ``rabbitmq-env.conf``."""
        for directory in (self.base, self.home, self.base / "log"):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        (self.base / "enabled_plugins").write_text("[].\n")
        (self.base / "rabbitmq-env.conf").write_text("")


@dataclass
class PrivateNode:
    """A node running in the foreground as a child process, in a session of its own (a terminal's Ctrl-C
    reaches whoever started it, who decides when the node stops)."""

    layout: NodeLayout
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, layout: NodeLayout, server: str) -> PrivateNode:
        """Start ``server`` (the ``rabbitmq-server`` script) as the node ``layout`` describes; do not wait."""
        layout.write_support_files()
        with layout.console_log.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603  # the package's own script, no shell
                [server], stdout=log, stderr=subprocess.STDOUT, env=layout.environment(), start_new_session=True
            )
        return cls(layout, process)

    def running(self) -> bool:
        """Whether the node's server process runs."""
        return self.process.poll() is None

    def wait_ready(self, ready: Callable[[], bool], *, timeout: float, stop: threading.Event | None = None) -> bool:
        """Wait until ``ready()``; False if ``stop`` was set first.

        Raises:
            NodeError: the node exited, or was not ready after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running():
                raise NodeError(f"exited with code {self.process.returncode}; its log: {self.layout.console_log}")
            if time.monotonic() > deadline:
                raise NodeError(f"not ready after {timeout:g}s; its log: {self.layout.console_log}")
            if stop is not None and stop.wait(0.2):
                return False
            if stop is None:
                time.sleep(0.2)
        return True

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the node (its start script stops it cleanly), kill it after ``timeout``, then stop its epmd.

        Raises:
            NodeError: the node had to be killed.
        """
        killed = False
        with suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)  # the script and the Erlang VM it started
            self.process.wait(timeout=30)
            killed = True
        self.stop_epmd()
        if killed:
            raise NodeError(f"did not stop within {timeout:g}s and was killed; its log: {self.layout.console_log}")

    def stop_epmd(self) -> None:
        """Stop the node's own epmd, which the Erlang VM started as a daemon of its own; the machine's is left alone."""
        epmd = shutil.which("epmd")
        if self.layout.epmd_port is None or epmd is None:
            return
        # A VM killed while it boots may have forked its epmd a moment before, still binding its port: ask until
        # no epmd has answered for a second.
        quiet_since = time.monotonic()
        deadline = quiet_since + EPMD_STOP_TIMEOUT
        while time.monotonic() < deadline:
            if self._epmd(epmd, "-kill"):
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 1.0:
                return
            time.sleep(0.2)

    def _epmd(self, epmd: str, *args: str) -> bool:
        """Run the node's ``epmd`` with ``args``; whether an epmd answered on its port."""
        result = subprocess.run(  # noqa: S603  # Erlang's own tool, no shell
            [epmd, "-port", str(self.layout.epmd_port), *args],
            env=self.layout.environment(),
            capture_output=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0
