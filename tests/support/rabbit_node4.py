"""A RabbitMQ node of the test's own from the install ``SPARTAKUS_TEST_RABBITMQ_ROOT`` names (RabbitMQ 4.x).

``tests.support.rabbit_node.rabbit_node`` hands over to ``installed_node``
when that variable is set, so a test that asks for a node of its own (the
16 MiB limit, large reports) gets one of the major version under test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Final

from tests.support.rabbit_install import RabbitInstall, node_variables, stop_epmd, write_cookie, write_node_files
from tests.support.services import amqp_answers, free_port, missing_service, wait_until

START_TIMEOUT: Final = 120.0
STOP_TIMEOUT: Final = 60.0


@contextlib.contextmanager
def installed_node(install: RabbitInstall, config: str) -> Iterator[str]:
    """Start a node of ``install`` with ``config`` (``rabbitmq.conf`` lines); yields its AMQP URL, then stops it."""
    reason = install.missing()
    if reason is not None:
        missing_service(reason)
        return
    prefix = os.environ.get("SPARTAKUS_TEST_NODE_PREFIX", "spartakus-test")
    name = f"{prefix}-{uuid.uuid4().hex[:8]}@localhost"
    ports = (free_port(), free_port(), free_port())
    with install.workdir("rabbit-node-") as base:
        write_node_files(base, config)
        write_cookie(base)
        install.hand_over(base)
        variables = node_variables(install, name, base, base, ports)
        argv, env = install.command("rabbitmq-server", variables)
        with (base / "console.log").open("ab") as log:
            server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"amqp://guest:guest@127.0.0.1:{ports[0]}/"
        try:
            wait_until(
                lambda: amqp_answers(url) or server.poll() is not None,
                timeout=START_TIMEOUT,
                interval=0.5,
                what=f"RabbitMQ node {name}",
            )
            if server.poll() is not None:
                raise AssertionError(f"{name} exited while booting: {(base / 'console.log').read_text()[-2000:]}")
            yield url
        finally:
            argv, env = install.command("rabbitmqctl", variables)
            subprocess.run([*argv, "-n", name, "stop"], env=env, check=False, timeout=STOP_TIMEOUT, capture_output=True)
            try:
                server.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=STOP_TIMEOUT)
            stop_epmd(ports[2])
