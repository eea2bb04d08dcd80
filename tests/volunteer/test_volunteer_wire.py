"""The volunteer on the wire: Kubernetes API stand-in via kubeconfig in, original-collector stand-in out."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from runtime.retry import RetryPolicy
from schema.report import parse_report
from tests.support.collector import CollectorStandIn, Reply
from tests.support.k8s_api import KubeApiStandIn
from tests.support.k8s_nodes import sample_nodes
from tests.support.original_wire import node_object_id
from volunteer.cluster import connect
from volunteer.one_report import OneReport
from volunteer.sender import HttpSender

pytestmark = pytest.mark.integration

# Backoff far shorter than any Retry-After used below, so a long gap can only come from honouring it.
FAST = RetryPolicy(first_wait=0.02, max_wait=0.05)


def _report(kubeconfig: Path, collector: CollectorStandIn, *, retry_seconds: float = 10) -> OneReport:
    return OneReport(
        cluster=connect(kubeconfig, timeout=5, page_size=2, environ={}),
        sender=HttpSender(collector.url, timeout=5, user_agent="spartakus-volunteer/test"),
        cluster_id="2f9c93d3-156c-47aa-8802-578ffca9b50e",
        extensions_path=None,
        retry_seconds=retry_seconds,
        policy=FAST,
    )


def test_the_collector_receives_every_node_with_the_originals_ids(
    kubeconfig: Path, collector: CollectorStandIn, k8s_api: KubeApiStandIn
) -> None:
    assert _report(kubeconfig, collector).run() is True

    [request] = collector.reports()
    report = request.json()
    in_key_order = sorted(sample_nodes(), key=lambda n: n["metadata"]["name"])  # as the API server lists them
    expected_ids = [node_object_id(n) for n in in_key_order]
    assert [n["id"] for n in report["nodes"]] == expected_ids
    # aks-..., gke-..., ip-... (EKS), kind-..., rack2-... (no providerID)
    assert [n["cloudProvider"] for n in report["nodes"]] == ["azure", "gce", "aws", "unknown", "unknown"]
    assert report["masterVersion"] == k8s_api.git_version
    assert len(k8s_api.list_requests()) == 3  # five nodes, two a page
    assert parse_report(request.body).cluster_id == "2f9c93d3-156c-47aa-8802-578ffca9b50e"


def test_a_503_is_retried_then_delivered_with_the_same_body(kubeconfig: Path, collector: CollectorStandIn) -> None:
    collector.script(Reply(503, b"broker unavailable"))

    assert _report(kubeconfig, collector).run() is True

    first, second = collector.reports()
    assert (first.status, second.status) == (503, 204)
    assert first.body == second.body


def test_a_422_is_not_retried_and_the_collectors_error_is_logged(
    kubeconfig: Path, collector: CollectorStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    collector.script(Reply(422, b'{"error": "schema violation", "details": ["nodes.0.id"]}'))

    assert _report(kubeconfig, collector).run() is False

    assert len(collector.reports()) == 1
    [line] = [r for r in caplog.records if r.getMessage() == "report"]
    assert (line.outcome, line.status) == ("rejected", 422)  # type: ignore[attr-defined]
    assert "nodes.0.id" in line.error  # type: ignore[attr-defined]


def test_retry_after_is_honoured(kubeconfig: Path, collector: CollectorStandIn) -> None:
    collector.script(Reply(503, b"busy", {"Retry-After": "1"}))

    assert _report(kubeconfig, collector).run() is True

    first, second = collector.reports()
    assert second.arrived - first.arrived >= 1.0


def test_a_429_is_retried(kubeconfig: Path, collector: CollectorStandIn) -> None:
    collector.script(Reply(429, b"slow down", {"Retry-After": "0"}))

    assert _report(kubeconfig, collector).run() is True
    assert [r.status for r in collector.reports()] == [429, 204]


def test_a_retry_after_beyond_the_budget_fails_the_report_without_waiting(
    kubeconfig: Path, collector: CollectorStandIn
) -> None:
    collector.script(Reply(503, b"maintenance", {"Retry-After": "3600"}))
    started = time.monotonic()

    assert _report(kubeconfig, collector, retry_seconds=5).run() is False
    assert time.monotonic() - started < 3
    assert len(collector.reports()) == 1


def test_a_kubernetes_api_hiccup_is_retried(
    kubeconfig: Path, collector: CollectorStandIn, k8s_api: KubeApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    k8s_api.fail_next("/api/v1/nodes", 500)

    assert _report(kubeconfig, collector).run() is True
    assert len(collector.reports()[0].json()["nodes"]) == 5
