"""Fixtures on real services: RabbitMQ, the BigQuery emulator, free ports.

Locally a missing service skips the tests that need it; with ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings
from testcontainers.community.rabbitmq import RabbitMqContainer

from tests.support.amqp import delete_queues, unique_queue_name
from tests.support.bqemulator_patches import patch_emulator
from tests.support.services import DEFAULT_TEST_AMQP_URL, amqp_answers, docker_engine_available, missing_service

# The compose suite runs against a stack that ``make compose-test`` (tests/compose/run.py) brings up; it names that
# stack in SPARTAKUS_COMPOSE_PROJECT. Without one, ``pytest`` leaves the suite out instead of failing it.
collect_ignore_glob = [] if os.environ.get("SPARTAKUS_COMPOSE_PROJECT") else ["compose/test_*.py"]


# Examples are timed on shared 2-core machines where a neighbour can stall any one of them;
# a per-example deadline would turn that into a failure that says nothing about the code.
settings.register_profile("spartakus", deadline=None)
settings.load_profile("spartakus")


def pytest_configure() -> None:
    # bqemulator installs DuckDB's spatial extension at start, which needs the network: the in-process emulator
    # starts without it, and with its Storage Write API able to append rows with RECORD columns.
    patch_emulator()


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
