"""Which RabbitMQ the test suite's own nodes run: the machine's package, or RabbitMQ 4 in a folder of its own.

By default a node of the suite's own (``rabbit_node``, ``rabbit_cluster``) runs
the machine's ``rabbitmq-server`` package. With ``SPARTAKUS_TEST_RABBITMQ_ROOT``
naming the folder that ``deploy/rabbitmq4.sh prepare`` makes (Debian trixie
with its RabbitMQ 4.0), the nodes run there instead, under ``chroot`` as that
folder's ``rabbitmq`` user, with their data inside the folder and an epmd of
their own (never the machine's on 4369).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import psutil

ROOT_VARIABLE: Final = "SPARTAKUS_TEST_RABBITMQ_ROOT"
PACKAGE_SCRIPTS: Final = Path("/usr/lib/rabbitmq/bin")
"""Debian's scripts themselves: the ones on PATH switch to the rabbitmq user and drop the environment set here."""
NODES_DIR: Final = "var/lib/spartakus-nodes"
"""Where, inside the root, nodes keep their data (``deploy/rabbitmq4.sh`` makes it world-writable)."""
PATH_INSIDE: Final = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class RabbitInstall:
    """The machine's RabbitMQ (``root`` None) or the one inside ``root``."""

    root: Path | None = None

    @classmethod
    def from_environment(cls) -> RabbitInstall:
        """The install ``SPARTAKUS_TEST_RABBITMQ_ROOT`` names, else the machine's."""
        root = os.environ.get(ROOT_VARIABLE, "")
        return cls(Path(root) if root else None)

    def missing(self) -> str | None:
        """Why no node can be started from this install, or None when one can."""
        if self.root is None:
            found = (PACKAGE_SCRIPTS / "rabbitmq-server").exists() or shutil.which("rabbitmq-server")
            return None if found else "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)"
        if not (self.root / PACKAGE_SCRIPTS.relative_to("/") / "rabbitmq-server").exists():
            return f"{ROOT_VARIABLE}={self.root} holds no RabbitMQ: run deploy/rabbitmq4.sh prepare"
        if not (self.root / "proc" / "self").exists():
            return f"{self.root}/proc is not mounted: run deploy/rabbitmq4.sh prepare"
        if os.geteuid() != 0:
            return f"nodes in {self.root} need chroot, which needs root"
        return None

    @contextlib.contextmanager
    def workdir(self, prefix: str) -> Iterator[Path]:
        """A fresh directory for nodes' files, as this process sees it; removed afterwards."""
        if self.root is None:
            with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
                yield Path(tmp)
            return
        path = self.root / NODES_DIR / f"{prefix}{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def inside(self, path: Path) -> str:
        """``path`` as the node sees it."""
        return str(path) if self.root is None else "/" + str(path.relative_to(self.root))

    def hand_over(self, path: Path) -> None:
        """Give ``path`` (recursively) to the install's ``rabbitmq`` user, who runs the nodes inside the root."""
        if self.root is not None:
            subprocess.run(
                ["chroot", str(self.root), "chown", "-R", "rabbitmq:rabbitmq", self.inside(path)],
                check=True,
                timeout=60,
                capture_output=True,
            )

    def command(self, tool: str, env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
        """``(argv, environment)`` that run the package's ``tool`` script with the node variables ``env``."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
        if self.root is None:
            script = PACKAGE_SCRIPTS / tool
            return [str(script) if script.exists() else shutil.which(tool) or tool], {**keep, **env}
        argv = ["chroot", "--userspec=rabbitmq:rabbitmq", str(self.root), "/usr/bin/env", "-i", f"PATH={PATH_INSIDE}"]
        argv += ["LANG=C.UTF-8", *(f"{key}={value}" for key, value in env.items()), str(PACKAGE_SCRIPTS / tool)]
        return argv, keep


def stop_epmd(port: int) -> None:
    """Stop the epmd that listens on ``port`` (nodes with an epmd of their own leave it running), by its PID."""
    for connection in psutil.net_connections(kind="tcp"):
        address = connection.laddr
        listening = connection.status == psutil.CONN_LISTEN and connection.pid is not None
        if listening and isinstance(address, tuple) and address[1:2] == (port,):
            with contextlib.suppress(psutil.NoSuchProcess, ValueError):
                process = psutil.Process(connection.pid)
                if process.name() == "epmd":
                    process.terminate()


def node_variables(
    install: RabbitInstall, name: str, base: Path, home: Path, ports: tuple[int, int, int | None]
) -> dict[str, str]:
    """The variables that make ``rabbitmq-server`` (and ``rabbitmqctl``) node ``name`` with its files in ``base``.

    ``ports`` are the AMQP, Erlang distribution and epmd ports (None: the machine's epmd).
    """
    amqp_port, dist_port, epmd_port = ports
    variables = {
        "HOME": install.inside(home),
        "RABBITMQ_NODENAME": name,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(amqp_port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": install.inside(base / "mnesia"),
        "RABBITMQ_LOG_BASE": install.inside(base / "log"),
        "RABBITMQ_CONFIG_FILE": install.inside(base / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": install.inside(base / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": install.inside(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": install.inside(base / "node.pid"),
        # The package's rabbitmq-env.conf names the machine's own node; this node reads an empty one.
        "RABBITMQ_CONF_ENV_FILE": install.inside(base / "rabbitmq-env.conf"),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    }
    if epmd_port is not None:
        variables["ERL_EPMD_PORT"] = str(epmd_port)
    return variables


def write_node_files(base: Path, config: str, advanced: str = "[].\n") -> None:
    """The node's configuration files in ``base``."""
    base.mkdir(parents=True, exist_ok=True)
    (base / "rabbitmq.conf").write_text(config)
    (base / "advanced.config").write_text(advanced)
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")


def write_cookie(home: Path) -> None:
    """An Erlang cookie of ``home``'s own, shared by its nodes and ``rabbitmqctl``; the machine's node keeps its."""
    home.mkdir(parents=True, exist_ok=True)
    cookie = home / ".erlang.cookie"
    cookie.write_text(uuid.uuid4().hex.upper())
    cookie.chmod(0o400)
