"""A RabbitMQ cluster of three nodes of the test run's own, started from the Debian ``rabbitmq-server`` package.

Each node has its own node name (``<prefix>-a<run>@localhost`` ..., the prefix
from ``SPARTAKUS_TEST_NODE_PREFIX``, ``spartakus-test`` by default, so that
people sharing a machine can tell their nodes apart), its own AMQP and
Erlang distribution ports (below the kernel's ephemeral range, never 5672 or
25672), its own data and log directories and a ``HOME`` of the cluster's own
(for the Erlang cookie that the nodes and ``rabbitmqctl`` share). The nodes
run in the foreground as child processes, so a test can ``kill -9`` one the
way a crashed machine loses it, and start it again on the same data. The
machine's own broker on 5672 is never touched.

With ``SPARTAKUS_TEST_RABBITMQ_ROOT`` set (``tests.support.rabbit_install``),
the three nodes run RabbitMQ 4.x from that folder, with an epmd of their own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psutil

from tests.support.amqp import delete_queues
from tests.support.rabbit_install import RabbitInstall, node_variables, stop_epmd, write_cookie, write_node_files
from tests.support.services import free_port, port_open, wait_until

DEFAULT_NODE_PREFIX: Final = "spartakus-test"
NODE_LETTERS: Final = ("a", "b", "c")
SERVER_CANDIDATES: Final = ("/usr/lib/rabbitmq/bin/rabbitmq-server",)
CTL_CANDIDATES: Final = ("/usr/lib/rabbitmq/bin/rabbitmqctl",)
"""The package's own scripts: ``/usr/sbin``'s wrappers switch to the ``rabbitmq`` user and its ``HOME``."""
BOOT_TIMEOUT: Final = 120.0
"""Seconds a node may take to boot; three boot at once on two shared cores."""
CTL_TIMEOUT: Final = 120.0
DEAD_LETTER_RETRY_MS: Final = 1000
"""How soon a quorum queue retries at-least-once dead-lettering that found no queue (the broker's default is
minutes); a shorter wait changes when a held message moves, never whether it does."""


def _tool(candidates: Sequence[str], name: str) -> str | None:
    for candidate in candidates:
        if Path(candidate).exists():
            return candidate
    return shutil.which(name)


def cluster_tools(install: RabbitInstall | None = None) -> tuple[str, str] | None:
    """``rabbitmq-server`` and ``rabbitmqctl`` as this user runs them, or None when the package is missing."""
    if install is not None and install.root is not None:
        return None if install.missing() else ("rabbitmq-server", "rabbitmqctl")
    server, ctl = _tool(SERVER_CANDIDATES, "rabbitmq-server"), _tool(CTL_CANDIDATES, "rabbitmqctl")
    return None if server is None or ctl is None else (server, ctl)


@dataclass
class RabbitNode:
    """One node: its name, ports and directories, and its server process while it runs."""

    name: str
    """The Erlang node name, e.g. ``i14a@localhost``."""
    amqp_port: int
    dist_port: int
    base: Path
    home: Path
    server: str
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    install: RabbitInstall = field(default_factory=RabbitInstall)
    epmd_port: int | None = None
    """An epmd of the cluster's own (RabbitMQ 4.x from its folder); None: the machine's."""

    @property
    def url(self) -> str:
        """The AMQP URL of this node."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def log_path(self) -> Path:
        """The node's console output (its own log files are under ``base/log``)."""
        return self.base / "console.log"

    def variables(self) -> dict[str, str]:
        """The variables that make ``rabbitmq-server`` this node and nothing else."""
        ports = (self.amqp_port, self.dist_port, self.epmd_port)
        return node_variables(self.install, self.name, self.base, self.home, ports)

    def command(self, tool: str) -> tuple[list[str], dict[str, str]]:
        """``(argv, environment)`` that run ``tool`` (``rabbitmq-server``, ``rabbitmqctl``) as this node's."""
        if self.install.root is None:
            argv, env = self.install.command(tool, self.variables())
            return [self.server if tool == "rabbitmq-server" else argv[0]], env
        return self.install.command(tool, self.variables())

    def prepare(self) -> None:
        """Write the node's configuration files."""
        write_node_files(
            self.base,
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n",
            f"[{{rabbit, [{{dead_letter_worker_publisher_confirm_timeout, {DEAD_LETTER_RETRY_MS}}}]}}].\n",
        )
        self.install.hand_over(self.base)

    def start(self) -> None:
        """Start the node in the background; ``wait_booted`` waits for it."""
        if self.running():
            raise AssertionError(f"{self.name} is already running")
        log = self.log_path.open("ab")
        argv, env = self.command("rabbitmq-server")
        # In its own folder: a node killed mid-write leaves Mnesia core dumps in its working directory.
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True, cwd=self.base
        )
        log.close()
        self.starts += 1

    def running(self) -> bool:
        """Whether the node's server process runs."""
        return self.process is not None and self.process.poll() is None

    def answers(self) -> bool:
        """Whether the node accepts TCP connections on its AMQP port."""
        return port_open("127.0.0.1", self.amqp_port)

    def wait_booted(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Wait until the node listens for AMQP; fail at once if its process exits."""
        wait_until(lambda: self.answers() or not self.running(), timeout=timeout, interval=0.2, what=self.name)
        if not self.running():
            raise AssertionError(f"{self.name} exited while booting:\n{self.console_tail()}")

    def kill(self) -> None:
        """``kill -9`` the node's Erlang VM, as a machine that dies loses it, and reap its start script."""
        if self.process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.send_signal(signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        wait_until(lambda: not self.answers(), timeout=30, what=f"{self.name}'s AMQP port to close")

    def console_tail(self, lines: int = 30) -> str:
        """The end of the node's console output."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class RabbitCluster:
    """Three ``RabbitNode``s joined into one cluster; see the module docstring."""

    nodes: list[RabbitNode]
    ctl: str
    home: Path
    install: RabbitInstall = field(default_factory=RabbitInstall)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def urls(self) -> list[str]:
        """Every node's AMQP URL, in node order."""
        return [node.url for node in self.nodes]

    @property
    def amqp_url(self) -> str:
        """All nodes as one comma-separated ``--amqp-url``."""
        return ",".join(self.urls)

    def node(self, name: str) -> RabbitNode:
        """The node called ``name`` (``i14a@localhost``)."""
        return next(node for node in self.nodes if node.name == name)

    def node_on_port(self, port: int) -> RabbitNode | None:
        """The node whose AMQP port is ``port``."""
        return next((node for node in self.nodes if node.amqp_port == port), None)

    def rabbitmqctl(self, node: RabbitNode, *args: str, timeout: float = CTL_TIMEOUT) -> str:
        """Run ``rabbitmqctl -n <node> -q <args>``; fail the test with its output otherwise."""
        argv, env = node.command("rabbitmqctl")
        if self.install.root is None:
            argv = [self.ctl]
        result = subprocess.run(
            [*argv, "-n", node.name, "-q", *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
        if result.returncode != 0:
            raise AssertionError(f"rabbitmqctl -n {node.name} {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def quorum_leader(self, queue: str) -> RabbitNode:
        """The node that hosts the leader of quorum queue ``queue``, asked of a running node."""
        via = next(node for node in self.nodes if node.running())
        for line in self.rabbitmqctl(via, "list_queues", "--no-table-headers", "name", "leader").splitlines():
            name, _, leader = line.partition("\t")
            if name == queue and "@" in leader:
                return self.node(leader.strip())
        raise AssertionError(f"quorum queue {queue} has no leader")

    def queue_members(self, queue: str) -> list[str]:
        """The nodes that hold a replica of quorum queue ``queue``."""
        via = next(node for node in self.nodes if node.running())
        for line in self.rabbitmqctl(via, "list_queues", "--no-table-headers", "name", "members").splitlines():
            name, _, members = line.partition("\t")
            if name == queue:
                return sorted(m.strip() for m in members.strip("[] \n").split(",") if m.strip())
        raise AssertionError(f"no queue {queue}")

    def queue_messages(self, queue: str) -> int:
        """Messages ``queue`` holds as the broker counts them: ready, unacked and awaiting dead-lettering."""
        via = next(node for node in self.nodes if node.running())
        for line in self.rabbitmqctl(via, "list_queues", "--no-table-headers", "name", "messages").splitlines():
            name, _, count = line.partition("\t")
            if name == queue:
                return int(count)
        raise AssertionError(f"no queue {queue}")

    def any_url(self) -> str:
        """The URL of a node that answers now."""
        return next(node.url for node in self.nodes if node.answers())

    def delete_queues(self, *names: str) -> None:
        """Delete ``names`` on the cluster if they exist."""
        delete_queues(self.any_url(), *names)

    def restart(self, node: RabbitNode) -> None:
        """Start a stopped or killed node again on its data; wait until it is back in the cluster."""
        node.start()
        node.wait_booted()
        self.rabbitmqctl(node, "await_startup")

    def ensure_running(self) -> None:
        """Start every node that is not running (killed by a test), all at once."""
        _in_parallel(*((self.restart, node) for node in self.nodes if not node.running()))

    def stop(self) -> None:
        """Stop every node: ``rabbitmqctl stop``, ``kill -9`` where that fails."""
        for node in self.nodes:
            if node.running():
                with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                    self.rabbitmqctl(node, "stop", timeout=60)
        for node in self.nodes:
            if node.running() and node.process is not None:
                try:
                    node.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    node.kill()
        ports = {node.epmd_port for node in self.nodes if node.epmd_port is not None}
        for port in ports:
            stop_epmd(port)


def _join(cluster: RabbitCluster, node: RabbitNode, seed: RabbitNode) -> None:
    cluster.rabbitmqctl(node, "stop_app")
    cluster.rabbitmqctl(node, "join_cluster", seed.name)
    cluster.rabbitmqctl(node, "start_app")


def _in_parallel(*calls: tuple[object, ...]) -> None:
    errors: list[BaseException] = []

    def run(fn: object, args: tuple[object, ...]) -> None:
        try:
            fn(*args)  # type: ignore[operator]  # the callers pass functions
        except BaseException as e:  # noqa: BLE001  # re-raised below in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(call[0], call[1:])) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@contextlib.contextmanager
def running_cluster(
    base: Path, tools: tuple[str, str], install: RabbitInstall | None = None
) -> Iterator[RabbitCluster]:
    """Three nodes booted at once, two of them joined to the first with ``rabbitmqctl join_cluster``.

    ``base`` lies inside ``install``'s root when it has one (``RabbitInstall.workdir``).
    """
    server, ctl = tools
    install = install or RabbitInstall()
    home = base / "home"
    write_cookie(home)  # one cookie for the nodes and rabbitmqctl; the machine's own node keeps its own
    install.hand_over(home)
    prefix = os.environ.get("SPARTAKUS_TEST_NODE_PREFIX", DEFAULT_NODE_PREFIX)
    run = uuid.uuid4().hex[:4]
    epmd_port = None if install.root is None else free_port()
    nodes = [
        RabbitNode(
            f"{prefix}-{letter}{run}@localhost",
            free_port(),
            free_port(),
            base / letter,
            home,
            server,
            install=install,
            epmd_port=epmd_port,
        )
        for letter in NODE_LETTERS
    ]
    cluster = RabbitCluster(nodes, ctl, home, install=install)
    try:
        started = time.monotonic()
        for node in nodes:
            node.prepare()
            node.start()
        for node in nodes:
            node.wait_booted()
        _in_parallel(*((cluster.rabbitmqctl, node, "await_startup") for node in nodes))
        seed = nodes[0]
        _in_parallel(*((_join, cluster, node, seed) for node in nodes[1:]))
        print(f"\nrabbit cluster of {len(nodes)} nodes up in {time.monotonic() - started:.1f}s", flush=True)
        yield cluster
    finally:
        cluster.stop()
