"""``python -m spartakus.run`` with the real ingest and writer: a report goes in, Ctrl-C drains, the report is stored.

Pending: this file is not collected (its name does not match ``test_*.py``) until ``spartakus ingest`` and
``spartakus writer`` are implemented; rename it to ``test_run_full.py`` then. It uses its own queue (the
``queue_name`` fixture through ``SPARTAKUS_QUEUE``, which the supervisor passes on to its children), its own ports
and its own DuckDB file.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.deploy.reports import post_go_volunteer_report
from tests.deploy.run_process import RunProcess
from tests.support.amqp import message_count
from tests.support.services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def make_run(amqp_url: str, queue_name: str, tmp_path: Path) -> Iterator[RunProcess]:
    env = {
        **os.environ,
        "SPARTAKUS_AMQP_URL": amqp_url,
        "SPARTAKUS_QUEUE": queue_name,
        "SPARTAKUS_PORT": str(free_port()),
        "SPARTAKUS_METRICS_PORT": str(free_port()),
        "SPARTAKUS_DASHBOARD_PORT": str(free_port()),
        "SPARTAKUS_DATA_DIR": str(tmp_path),
    }
    run = RunProcess(env)
    children = []
    try:
        run.wait_for("Ctrl-C stops everything", timeout=90)
        children = run.children()
        yield run
    finally:
        run.stop(timeout=45)  # a failed test: let the supervisor stop its children, then make sure
        for child in children:
            if child.is_running():
                child.kill()
        run.close()


def test_make_run_stores_a_report_and_drains_on_ctrl_c(make_run: RunProcess, amqp_url: str, queue_name: str) -> None:
    port, data_dir = make_run.env["SPARTAKUS_PORT"], Path(make_run.env["SPARTAKUS_DATA_DIR"])
    children = make_run.children()
    assert len(children) == 3, [child.cmdline() for child in children]
    assert f"  ingest    ready: http://localhost:{port}" in make_run.output
    assert f"  writer-1  ready: duckdb:///{data_dir / 'spartakus.duckdb'}" in make_run.output
    assert "The writer lets go of the DuckDB file when it is idle" in make_run.output
    cluster_id = str(uuid.uuid4())

    assert post_go_volunteer_report(port, cluster_id) == 204

    make_run.process.send_signal(signal.SIGINT)  # what Ctrl-C sends; the children have process groups of their own

    assert make_run.process.wait(timeout=60) == 0, make_run.output
    assert make_run.output.endswith("\nstopped\n"), make_run.output
    assert not any(child.is_running() for child in children), "no component outlives the supervisor"
    assert f"RabbitMQ    answers at {amqp_url.replace(':guest@', ':***@')}" in make_run.output
    assert "RabbitMQ    stopping" not in make_run.output, "a broker that answered already is never stopped"
    assert not (data_dir / "rabbitmq").exists(), "and none is started beside it"
    # With every consumer gone, a message left unacked would be back among the ready ones.
    assert message_count(amqp_url, queue_name) == 0
    assert message_count(amqp_url, f"{queue_name}.dead") == 0
    with duckdb.connect(str(data_dir / "spartakus.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT version, clusterID FROM reports WHERE clusterID = ?", [cluster_id]).fetchall()
    assert rows == [("v1.1.0", cluster_id)]


def test_make_run_stops_its_components_on_sigterm(make_run: RunProcess) -> None:
    children = make_run.children()

    make_run.process.send_signal(signal.SIGTERM)

    assert make_run.process.wait(timeout=60) == 0, make_run.output
    assert make_run.output.endswith("stopped\n"), make_run.output
    assert not any(child.is_running() for child in children)
