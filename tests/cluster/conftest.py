"""The three-node RabbitMQ cluster: started once per session, when the first test asks for it, and stopped at the end.

Each test declares queues of its own on it and deletes them afterwards; a
test that kills a node starts it again before it ends, so the next test finds
all three nodes running.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.amqp import unique_queue_name
from tests.support.rabbit_cluster import RabbitCluster, cluster_tools, running_cluster
from tests.support.services import missing_service


@pytest.fixture(scope="session")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """Three RabbitMQ nodes of this run's own, joined into one cluster."""
    tools = cluster_tools()
    if tools is None:
        missing_service("the rabbitmq-server package is not installed: no cluster of our own can be started")
        return
    with running_cluster(tmp_path_factory.mktemp("rabbit-cluster"), tools) as cluster:
        yield cluster


@pytest.fixture
def cluster(rabbit_cluster: RabbitCluster) -> Iterator[RabbitCluster]:
    """The session's cluster with all three nodes running before and after the test."""
    for node in rabbit_cluster.nodes:
        if not node.running():
            rabbit_cluster.restart(node)
    yield rabbit_cluster
    for node in rabbit_cluster.nodes:
        if not node.running():
            rabbit_cluster.restart(node)


@pytest.fixture
def cluster_queue(cluster: RabbitCluster) -> Iterator[str]:
    """A queue name of this test's own on the cluster; it and its dead-letter queue are deleted afterwards."""
    name = unique_queue_name("test.cluster")
    yield name
    cluster.delete_queues(name, f"{name}.dead")
