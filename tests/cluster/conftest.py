"""The three-node RabbitMQ cluster: started once per session, when the first test asks for it, and stopped at the end.

Under pytest-xdist (``make test``) every test here is in one group, run by one
worker (see ``XDIST_GROUPS`` in tests/conftest.py), so that the cluster is
started once.

Each test declares queues of its own on it and deletes them afterwards; a
test that kills a node starts it again before it ends, so the next test finds
all three nodes running.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.amqp import unique_queue_name
from tests.support.pipeline import Pipeline
from tests.support.rabbit_cluster import RabbitCluster, cluster_tools, running_cluster
from tests.support.rabbit_install import RabbitInstall
from tests.support.services import missing_service


@pytest.fixture(scope="session")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """Three RabbitMQ nodes of this run's own, joined into one cluster."""
    install = RabbitInstall.from_environment()
    tools = cluster_tools(install)
    if tools is None:
        missing_service(install.missing() or "rabbitmq-server is not installed: no cluster of our own can be started")
        return
    if install.root is None:
        with running_cluster(tmp_path_factory.mktemp("rabbit-cluster"), tools) as cluster:
            yield cluster
        return
    with install.workdir("rabbit-cluster-") as base, running_cluster(base, tools, install) as cluster:
        yield cluster


@pytest.fixture
def cluster(rabbit_cluster: RabbitCluster) -> Iterator[RabbitCluster]:
    """The session's cluster with all three nodes running before and after the test."""
    rabbit_cluster.ensure_running()
    yield rabbit_cluster
    rabbit_cluster.ensure_running()


@pytest.fixture
def cluster_queue(cluster: RabbitCluster) -> Iterator[str]:
    """A queue name of this test's own on the cluster; it and its dead-letter queue are deleted afterwards."""
    name = unique_queue_name("test.cluster")
    yield name
    cluster.ensure_running()  # a quorum queue is deleted by a majority of its nodes
    cluster.delete_queues(name, f"{name}.dead")


PIPELINE: pytest.StashKey[Pipeline] = pytest.StashKey()
CLUSTER: pytest.StashKey[RabbitCluster] = pytest.StashKey()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Add the tail of every process log, and of every node's console, to a failing test's report."""
    del call
    report = yield
    if report.failed:
        pipeline = item.stash.get(PIPELINE, None)
        if pipeline is not None:
            report.sections.append(("process logs (last lines)", pipeline.log_tails()))
        cluster = item.stash.get(CLUSTER, None)
        if cluster is not None:
            tails = "\n".join(f"--- {node.name} ---\n{node.console_tail()}" for node in cluster.nodes)
            report.sections.append(("rabbit nodes (last lines)", tails))
    return report


@pytest.fixture
def cluster_pipeline(
    request: pytest.FixtureRequest, cluster: RabbitCluster, cluster_queue: str, tmp_path: Path
) -> Iterator[Pipeline]:
    """This test's gateway and writers, given every node's URL in one ``--amqp-url``; all stopped at the end."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    running = Pipeline(cluster.amqp_url, cluster_queue, log_dir)
    request.node.stash[PIPELINE] = running
    request.node.stash[CLUSTER] = cluster
    try:
        yield running
    finally:
        running.stop_all()
