"""Building a report's bytes: the schema's models, the original's field order, bounded by pages."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from schema.report import Extension, derive_report_id, parse_report
from tests.support.collector import go_decode_error
from tests.support.k8s_nodes import generate_nodes, sample_nodes
from tests.support.original_wire import node_object_id
from tests.volunteer.twins import InMemoryCluster
from volunteer.errors import StoppedError
from volunteer.report import build_report, volunteer_version


def _build(cluster: InMemoryCluster, extensions: Sequence[Extension] = ()) -> Any:
    return build_report(
        cluster, cluster_id="2f9c93d3", extensions=extensions, version="v2.0.0", clock=lambda: 1795779062.7
    )


def test_the_body_is_a_valid_report_that_an_original_collector_decodes() -> None:
    built = _build(InMemoryCluster(sample_nodes()), [Extension(name="example.com/team", value="payments")])

    report = parse_report(built.body)

    assert go_decode_error(built.body) is None
    assert (report.version, report.timestamp, report.cluster_id) == ("v2.0.0", "1795779062", "2f9c93d3")
    assert report.master_version == "v1.31.1"
    assert report.nodes is not None
    assert len(report.nodes) == built.nodes == 5
    assert report.extensions == [Extension(name="example.com/team", value="payments")]


def test_fields_come_in_the_originals_order_without_a_report_id() -> None:
    built = _build(InMemoryCluster(sample_nodes()), [Extension(name="k", value="v")])

    assert list(json.loads(built.body)) == ["version", "timestamp", "clusterID", "masterVersion", "nodes", "extensions"]


def test_the_collector_derives_the_same_report_id_for_every_retry() -> None:
    built = _build(InMemoryCluster(sample_nodes()))

    again = _build(InMemoryCluster(sample_nodes()))

    assert parse_report(built.body).id == parse_report(again.body).id == derive_report_id(parse_report(built.body))


def test_node_ids_are_the_originals() -> None:
    nodes = sample_nodes()

    ids = [n["id"] for n in json.loads(_build(InMemoryCluster(nodes)).body)["nodes"]]

    expected = [node_object_id(n) for n in nodes]
    assert ids == expected


def test_an_empty_cluster_and_no_extensions_leave_those_fields_out() -> None:
    body = json.loads(_build(InMemoryCluster([], git_version="")).body)

    assert body == {"version": "v2.0.0", "timestamp": "1795779062", "clusterID": "2f9c93d3"}


def test_empty_pages_add_nothing() -> None:
    class GappyCluster(InMemoryCluster):
        def node_pages(self) -> Iterator[Sequence[Mapping[str, Any]]]:
            yield []
            yield sample_nodes()[:1]
            yield []

    assert json.loads(_build(GappyCluster()).body)["nodes"][0]["cloudProvider"] == "gce"


def test_nothing_that_identifies_a_node_is_in_the_body() -> None:
    nodes = list(generate_nodes(10))

    body = _build(InMemoryCluster(nodes)).body.decode()

    for node in nodes:
        assert node["metadata"]["name"] not in body
        assert node["status"]["addresses"][0]["address"] not in body


def test_a_stop_between_pages_abandons_the_report() -> None:
    stop = threading.Event()
    stop.set()

    with pytest.raises(StoppedError):
        build_report(InMemoryCluster(sample_nodes()), cluster_id="c", extensions=[], stop=stop)


def test_the_version_is_this_packages() -> None:
    assert volunteer_version().startswith("v2.")
