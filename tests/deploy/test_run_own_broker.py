"""``make run`` where no broker answers: it starts a private RabbitMQ node, and leaves nothing behind.

As a fresh clone meets it: no ``data/`` yet, and ``SPARTAKUS_AMQP_URL`` at a free port where nothing listens.
The real ingest, writer and dashboard run against the node that ``make run`` (``python -m spartakus.run``)
starts from the installed ``rabbitmq-server``. The machine's own broker on 5672 (and its epmd on 4369) must not notice.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb
import psutil
import pytest

from runtime.private_node import node_tools
from tests.deploy.reports import post_go_volunteer_report
from tests.deploy.run_process import MAKE_RUN, RunProcess, make_run_available
from tests.support.services import free_port, missing_service, port_open, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MACHINE_BROKER_PORT = 5672
MAKE_VARS = ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")
STOPPED = "RabbitMQ    stopping a private node in {data}/rabbitmq\nRabbitMQ    stopped\n"
BOOT_TIMEOUT = 240.0
"""A first boot of a node beside the components, on two shared cores."""


def node_processes(home: Path) -> list[psutil.Process]:
    """Every process of the private node: the start script, the Erlang VM, its helpers and its epmd (a daemon,
    not a child of anything here), found by the ``HOME`` they all run with."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get("HOME") == str(home) and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def listening_ports(processes: list[psutil.Process]) -> set[int]:
    ports = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            ports |= {c.laddr.port for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
    return ports


def machine_broker_pid() -> int | None:
    """The process listening on 5672, if any (the machine's broker)."""
    with contextlib.suppress(psutil.Error):
        for connection in psutil.net_connections("tcp"):
            if (
                getattr(connection.laddr, "port", None) == MACHINE_BROKER_PORT
                and connection.status == psutil.CONN_LISTEN
            ):
                return connection.pid
    return None


def machine_epmd_names() -> str:
    """What the machine's epmd (port 4369) has registered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERL_")}
    result = subprocess.run(["epmd", "-names"], capture_output=True, text=True, env=env, timeout=30, check=False)
    return result.stdout


def adoption_clusters(port: str) -> int:
    """The clusters the dashboard shows; -1 while it cannot say."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/adoption", timeout=5) as response:
            clusters: int = json.load(response)["clusters"]
            return clusters
    except (OSError, ValueError, KeyError):
        return -1


@pytest.fixture
def run_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``make run``'s environment for a fresh clone; whatever of its node outlives a failed test is killed."""
    if node_tools() is None:
        missing_service("rabbitmq-server is not installed (apt-get install -y rabbitmq-server)")
    data = tmp_path / "data"
    # Nor the flags of a `make test` this may run under: the `make run` here is a make of its own.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARTAKUS_") and not k.startswith(MAKE_VARS)}
    env |= {
        "SPARTAKUS_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        "SPARTAKUS_PORT": str(free_port()),
        "SPARTAKUS_METRICS_PORT": str(free_port()),
        "SPARTAKUS_DASHBOARD_PORT": str(free_port()),
        "SPARTAKUS_DATA_DIR": str(data),
        "SPARTAKUS_READY_TIMEOUT": str(BOOT_TIMEOUT),
        "SPARTAKUS_DRAIN_TIMEOUT": "5",
    }
    yield env
    for process in node_processes(data / "rabbitmq" / "home"):
        with contextlib.suppress(psutil.Error):
            process.kill()


@contextlib.contextmanager
def make_run(env: dict[str, str], command: Sequence[str] = (), *, terminal: bool = False) -> Iterator[RunProcess]:
    """``python -m spartakus.run`` (or ``command``), up and ready; SIGTERMed and reaped afterwards if the test
    did not stop it."""
    run = RunProcess(env, command, terminal=terminal)
    try:
        run.wait_for("Ctrl-C stops everything", timeout=BOOT_TIMEOUT)
        yield run
    finally:
        run.stop(timeout=120)
        run.close()


def assert_nothing_left(home: Path, ports: set[int]) -> None:
    assert node_processes(home) == [], "no process of the private node outlives make run"
    assert [port for port in sorted(ports) if port_open("127.0.0.1", port)] == [], "every port it opened is closed"


def test_make_run_starts_a_private_node_stops_it_on_ctrl_c_and_finds_its_queue_again(
    run_env: dict[str, str],
) -> None:
    data, url = Path(run_env["SPARTAKUS_DATA_DIR"]), run_env["SPARTAKUS_AMQP_URL"]
    amqp_port, ingest, dashboard = (
        int(url.rsplit(":", 1)[1].strip("/")),
        run_env["SPARTAKUS_PORT"],
        run_env["SPARTAKUS_DASHBOARD_PORT"],
    )
    home, broker_before = data / "rabbitmq" / "home", machine_broker_pid()
    written, queued = str(uuid.uuid4()), str(uuid.uuid4())

    # The first run is `make run` itself where the repository's .venv is there to run it, Ctrl-C'd as a terminal
    # does it: SIGINT to make and everything in its process group.
    command = MAKE_RUN if make_run_available() else ()
    with make_run(run_env, command, terminal=True) as first:
        started = f"RabbitMQ    started a private node in {data / 'rabbitmq'} (amqp://guest:***@127.0.0.1:{amqp_port}/)"
        assert started in first.output
        ports = listening_ports(node_processes(home))
        assert amqp_port in ports
        assert len(ports) >= 3, f"AMQP, Erlang distribution and epmd: {ports}"
        name = (data / "rabbitmq" / "node-name").read_text().strip().partition("@")[0]
        assert name not in machine_epmd_names(), "the node registers with its own epmd, not the machine's"

        assert post_go_volunteer_report(ingest, written) == 204
        wait_until(lambda: adoption_clusters(dashboard) == 1, timeout=60, what="the report on the dashboard")
        writer = next(child for child in first.children() if "writer" in child.cmdline())
        writer.suspend()  # a writer that never gets to the next report: it stays queued
        assert post_go_volunteer_report(ingest, queued) == 204
        first.ctrl_c()
        first.process.wait(timeout=120)
    own_output = first.output.partition("make: ***")[0]  # make adds a line of its own when interrupted
    assert "writer-1 killed after 5s" in own_output, first.output  # the suspended writer
    assert own_output.endswith("stopped, not cleanly: writer-1 (exit code -9)\n" + STOPPED.format(data=data)), (
        first.output
    )
    assert_nothing_left(home, ports)

    with make_run(run_env) as second:
        assert started in second.output, "the same node again, on the same data"
        ports = listening_ports(node_processes(home))
        wait_until(lambda: adoption_clusters(dashboard) == 2, timeout=60, what="the queued report on the dashboard")
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(timeout=120) == 0, second.output
    assert second.output.endswith(
        f"stopped\nRabbitMQ    stopping a private node in {data / 'rabbitmq'}\nRabbitMQ    stopped\n"
    )
    assert_nothing_left(home, ports)

    with duckdb.connect(str(data / "spartakus.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT clusterID FROM reports ORDER BY clusterID").fetchall()
    assert rows == sorted([(written,), (queued,)])
    assert machine_broker_pid() == broker_before, "the machine's broker was neither stopped nor restarted"


def test_ctrl_c_while_the_private_node_boots_stops_it_and_starts_nothing_else(run_env: dict[str, str]) -> None:
    data = Path(run_env["SPARTAKUS_DATA_DIR"])
    run = RunProcess(run_env, terminal=True)
    try:
        run.wait_for("starting one (--no-broker: never)", timeout=60)
        wait_until(lambda: bool(node_processes(data / "rabbitmq" / "home")), timeout=60, what="the node's process")
        run.ctrl_c()  # the node, in a session of its own, hears it from make run alone
        assert run.process.wait(timeout=120) == 0, run.output
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        run.close()
    assert run.output.endswith("starting one (--no-broker: never)\nstopped\n"), run.output
    assert node_processes(data / "rabbitmq" / "home") == []
    assert not (data / "logs").exists(), "no component was started"
