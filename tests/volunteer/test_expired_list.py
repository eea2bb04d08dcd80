"""A list whose continue token expires mid-way (410 ``Expired``) is started again, and each node reported once."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from runtime.retry import RetryPolicy
from tests.support.k8s_api import KubeApiStandIn, write_kubeconfig
from tests.support.k8s_nodes import generate_nodes
from tests.volunteer.conftest import TOKEN
from tests.volunteer.twins import RecordingSender
from volunteer.cluster import connect
from volunteer.one_report import REPORT_LOGGER, OneReport

pytestmark = pytest.mark.integration

NODES = 23
PAGE = 5


def test_an_expired_continue_restarts_the_list_and_reports_every_node_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    nodes = list(generate_nodes(NODES))
    with KubeApiStandIn(nodes, token=TOKEN) as api:
        api.compact_after(2)  # the third page's continue is older than the compacted revision
        cluster = connect(
            write_kubeconfig(tmp_path / "kubeconfig", api.url, token=TOKEN), timeout=5, page_size=PAGE, environ={}
        )
        sender = RecordingSender()
        report = OneReport(
            cluster=cluster,
            sender=sender,
            cluster_id="c",
            extensions_path=None,
            retry_seconds=10,
            policy=RetryPolicy(first_wait=0.01, max_wait=0.02),
        )

        assert report.run() is True
        requests = api.list_requests()

    # Two pages, the 410, then the whole list again from its start: 5 pages.
    assert [bool(r.query.get("continue")) for r in requests] == [False, True, True, False, True, True, True, True]
    [body] = sender.bodies
    ids = [node["id"] for node in json.loads(body)["nodes"]]
    assert len(ids) == NODES
    assert len(set(ids)) == NODES
    [line] = [r for r in caplog.records if r.name == REPORT_LOGGER and r.getMessage() == "report"]
    assert (line.read_attempts, line.attempts) == (2, 1)  # type: ignore[attr-defined]
