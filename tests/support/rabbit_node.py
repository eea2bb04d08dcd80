"""A RabbitMQ node of the test's own, configured as the test needs, from the machine's RabbitMQ package.

The machine's broker on 5672 serves every test: it is never reconfigured.
A node started here has its own name, ports, data, logs, configuration and
Erlang cookie (a ``HOME`` of its own, used by ``rabbitmqctl`` too), and is
stopped and removed at the end. Its layout and environment are
``runtime.private_node``'s, which ``make run``'s own broker uses too.

Node names start with ``SPARTAKUS_TEST_NODE_PREFIX`` (``spartakus-test`` by
default), so that people sharing a machine can tell their nodes apart.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from runtime import private_node
from tests.support.rabbit_install import RabbitInstall
from tests.support.rabbit_node4 import installed_node
from tests.support.services import amqp_answers, free_port, missing_service, wait_until

START_TIMEOUT: Final = 120.0
STOP_TIMEOUT: Final = 60.0
PACKAGE_SCRIPTS: Final = private_node.PACKAGE_SCRIPTS
"""Debian's scripts themselves: the ones on PATH switch to the rabbitmq user and drop the environment set here."""


def _script(name: str) -> str | None:
    return private_node.package_script(name)


def _environment(home: Path, name: str, amqp_port: int, dist_port: int) -> dict[str, str]:
    layout = private_node.NodeLayout(name, home, home, amqp_port, dist_port)
    layout.write_support_files()
    return layout.environment()


@contextlib.contextmanager
def rabbit_node(config: str) -> Iterator[str]:
    """Start a node with ``config`` (``rabbitmq.conf`` lines); yields its AMQP URL. Stopped afterwards."""
    install = RabbitInstall.from_environment()
    if install.root is not None:  # RabbitMQ 4.x from deploy/rabbitmq4.sh (tests.support.rabbit_install)
        with installed_node(install, config) as url:
            yield url
        return
    server, ctl = _script("rabbitmq-server"), _script("rabbitmqctl")
    if server is None or ctl is None:
        missing_service("rabbitmq-server is not installed (apt-get install -y rabbitmq-server)")
        return
    prefix = os.environ.get("SPARTAKUS_TEST_NODE_PREFIX", "spartakus-test")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}@localhost"
    amqp_port, dist_port = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="rabbit-node-") as tmp:
        home = Path(tmp)
        (home / "rabbitmq.conf").write_text(config)
        env = _environment(home, name, amqp_port, dist_port)
        subprocess.run([server, "-detached"], env=env, check=True, timeout=60, capture_output=True)
        url = f"amqp://guest:guest@127.0.0.1:{amqp_port}/"
        try:
            wait_until(lambda: amqp_answers(url), timeout=START_TIMEOUT, interval=0.5, what=f"RabbitMQ node {name}")
            yield url
        finally:
            subprocess.run(
                [ctl, "-n", name, "stop", str(home / "node.pid")],
                env=env,
                check=False,
                timeout=STOP_TIMEOUT,
                capture_output=True,
            )
