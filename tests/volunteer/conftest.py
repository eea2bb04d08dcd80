"""Fixtures for the volunteer's tests: the Kubernetes API and collector stand-ins, and a kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.collector import CollectorStandIn
from tests.support.k8s_api import KubeApiStandIn, write_kubeconfig
from tests.support.k8s_nodes import sample_nodes

TOKEN = "stand-in-token"  # noqa: S105  # a test credential for the stand-in


@pytest.fixture
def k8s_api() -> Iterator[KubeApiStandIn]:
    """The Kubernetes API stand-in with one node of every flavour; it requires a bearer token."""
    with KubeApiStandIn(sample_nodes(), token=TOKEN) as api:
        yield api


@pytest.fixture
def kubeconfig(k8s_api: KubeApiStandIn, tmp_path: Path) -> Path:
    """A kubeconfig pointing at ``k8s_api``, with its token."""
    return write_kubeconfig(tmp_path / "kubeconfig", k8s_api.url, token=TOKEN)


@pytest.fixture
def collector() -> Iterator[CollectorStandIn]:
    """A collector that behaves like the original Go one."""
    with CollectorStandIn() as server:
        yield server
