"""Fixtures on real services: RabbitMQ, the BigQuery emulator, free ports.

Locally a missing service skips the tests that need it; with ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from _pytest.nodeid import coerce_node_id
from hypothesis import settings
from testcontainers.community.rabbitmq import RabbitMqContainer

from tests.support.amqp import delete_queues, unique_queue_name
from tests.support.bqemulator_patches import patch_emulator
from tests.support.services import DEFAULT_TEST_AMQP_URL, amqp_answers, docker_engine_available, missing_service

# The compose suite runs against a stack that ``make compose-test`` (tests/compose/run.py) brings up; it names that
# stack in SPARTAKUS_COMPOSE_PROJECT. Without one, ``pytest`` leaves the suite out instead of failing it.
collect_ignore_glob = [] if os.environ.get("SPARTAKUS_COMPOSE_PROJECT") else ["compose/test_*.py"]


TESTS: Final = Path(__file__).parent
XDIST_GROUPS: Final = {
    # One worker runs these, so that the session's three-node cluster is started once, not once per worker.
    "cluster": "rabbit-cluster",
    # The tests that keep a core busy for tens of seconds (large reports, memory limits, benchmarks) are spread
    # over two groups of about equal length: at most two of them run at once on a 2-core machine, so none is
    # starved into its timeouts.
    "e2e/test_large_reports.py": "heavy-1",
    "writer/test_bench_smoke.py": "heavy-1",
    "writer/test_memory_limit.py": "heavy-1",
    "ingest/test_memory.py": "heavy-2",
    "ingest/test_bench_smoke.py": "heavy-2",
    "dashboard/test_concurrency.py": "heavy-2",
    "ingest/test_message_size.py": "heavy-2",
    "dashboard/test_bench_smoke.py": "heavy-2",
}
"""Test files or folders (under tests/) and the pytest-xdist group that runs them one at a time, on one worker."""
SLOW_FIRST: Final = (
    "deploy/test_run_own_broker.py",
    "e2e/test_chaos.py",
    "writer/test_duckdb_wedge.py",
    "writer/test_outage.py",
    "e2e/test_forgery.py",
    "e2e/test_storage_write.py",
    "deploy/test_run_full.py",
    "writer/test_request_limit.py",
    "volunteer/test_periodic.py",
    "dashboard/test_bigquery_cost.py",
)
"""Test files outside the groups that take longest, longest first: the workers start them before the rest, so that
none of them is left to run alone at the end while the other workers have nothing left to do."""


# Examples are timed on shared 2-core machines where a neighbour can stall any one of them;
# a per-example deadline would turn that into a failure that says nothing about the code.
settings.register_profile("spartakus", deadline=None)
settings.load_profile("spartakus")


def pytest_configure() -> None:
    # bqemulator installs DuckDB's spatial extension at start, which needs the network: the in-process emulator
    # starts without it, and with its Storage Write API able to append rows with RECORD columns.
    patch_emulator()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of ``XDIST_GROUPS`` with their group and put ``SLOW_FIRST`` first (for ``--dist loadgroup``,
    which hands the groups out first, largest first, then the other tests in this order)."""
    slow = [TESTS / path for path in SLOW_FIRST]
    items.sort(key=lambda item: next((n for n, path in enumerate(slow) if item.path == path), len(slow)))
    groups = {TESTS / path: group for path, group in XDIST_GROUPS.items()}
    for item in items:
        group = next((group for path, group in groups.items() if item.path.is_relative_to(path)), None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
            _suffix_group(item, group)


def _suffix_group(item: pytest.Item, group: str) -> None:
    """Give a grouped test the ``@group`` suffix by which ``--dist loadgroup`` schedules it, on an xdist worker.

    pytest-xdist 3.8 adds it by setting ``item._nodeid``, which pytest 9.2 no longer reads (``nodeid`` comes
    from ``item._id``): without this, every group would be spread over the workers, one cluster per worker.
    """
    if not getattr(item.config.option, "loadgroup", False) or "@" in item.nodeid:
        return
    item._id = coerce_node_id(f"{item.nodeid}@{group}")


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    """URL of a real RabbitMQ: ``SPARTAKUS_TEST_AMQP_URL``, the local broker, or a container."""
    url = os.environ.get("SPARTAKUS_TEST_AMQP_URL", DEFAULT_TEST_AMQP_URL)
    if amqp_answers(url):
        yield url
        return
    if docker_engine_available():
        with RabbitMqContainer("rabbitmq:3.13-management") as container:
            params = container.get_connection_params()
            yield f"amqp://guest:guest@{params.host}:{params.port}/"
        return
    missing_service(f"RabbitMQ does not answer at {url} and no Docker engine is available")


@pytest.fixture
def queue_name(amqp_url: str) -> Iterator[str]:
    """A queue name of this test's own; it and its dead-letter queue are deleted afterwards."""
    name = unique_queue_name()
    yield name
    delete_queues(amqp_url, name, f"{name}.dead")


@pytest.fixture
def bq_client(bqemu_client: Any) -> Any:
    """A ``google.cloud.bigquery.Client`` on the in-process emulator (free ports)."""
    return bqemu_client


@pytest.fixture
def bq_dataset(bq_client: Any) -> Iterator[str]:
    """A dataset of this test's own, as ``project.dataset``; deleted afterwards."""
    dataset_id = f"{bq_client.project}.test_{uuid.uuid4().hex[:10]}"
    bq_client.create_dataset(dataset_id)
    yield dataset_id
    bq_client.delete_dataset(dataset_id, delete_contents=True, not_found_ok=True)
