"""From Node objects to report nodes: the original's id, provider names, omitted empties, sorted capacity."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schema.report import ORIGINAL_PROVIDERS, PUBLIC_PROVIDERS, Node
from tests.support.k8s_api import node_list_page
from tests.support.k8s_nodes import make_node, sample_nodes
from volunteer.nodes import cloud_provider, compact_node, parse_node_list


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324  # the original's id is md5 by definition


def test_node_id_is_md5_of_name_machine_id_and_system_uuid_without_separator() -> None:
    node = make_node("gke", name="node-a", machine_id="0123abcd", system_uuid="uuid-1")

    assert compact_node(node)["id"] == _md5("node-a0123abcduuid-1")


@pytest.mark.parametrize("raw", sample_nodes(), ids=lambda n: n["metadata"]["name"])
def test_node_id_matches_an_independent_computation_for_every_flavour(raw: dict[str, Any]) -> None:
    info = raw["status"]["nodeInfo"]
    expected = _md5(raw["metadata"]["name"] + info["machineID"] + info["systemUUID"])

    assert compact_node(raw)["id"] == expected


def test_missing_machine_id_and_system_uuid_hash_as_empty_strings_like_the_original() -> None:
    node = make_node("kind", name="kind-control-plane", machine_id="", system_uuid="")
    del node["status"]["nodeInfo"]["machineID"]

    assert compact_node(node)["id"] == _md5("kind-control-plane")


@pytest.mark.parametrize(
    ("provider_id", "expected"),
    [
        ("gce://spartakus-prod/europe-west1-b/gke-node-1", "gce"),
        ("aws:///eu-west-1a/i-0123456789abcdef0", "aws"),
        ("azure:///subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/z", "azure"),
        ("digitalocean://123456789", "digitalocean"),
        ("hcloud://4711", "hcloud"),
        ("kind://docker/kind/kind-worker", "unknown"),
        ("k3s://server-1", "unknown"),
        ("my-company-internal://rack-4", "unknown"),
        ("GCE://project/zone/name", "unknown"),
        ("gce://a://b", "unknown"),
        ("gce", "unknown"),
        ("", "unknown"),
    ],
)
def test_cloud_provider_is_the_scheme_only_when_whitelisted(provider_id: str, expected: str) -> None:
    assert cloud_provider(provider_id) == expected


def test_the_original_whitelist_is_kept_whole() -> None:
    assert ORIGINAL_PROVIDERS <= PUBLIC_PROVIDERS
    assert {"aws", "azure", "cloudstack", "gce", "mesos", "openstack", "ovirt", "photon", "rackspace", "vsphere"} == (
        ORIGINAL_PROVIDERS
    )


@given(st.text(max_size=40))
def test_cloud_provider_never_reports_free_text(provider_id: str) -> None:
    assert cloud_provider(provider_id) in PUBLIC_PROVIDERS | {"unknown"}


def test_node_without_provider_id_reports_unknown() -> None:
    node = make_node("bare-metal", 3)

    assert "providerID" not in node["spec"]
    assert compact_node(node)["cloudProvider"] == "unknown"


def test_report_node_carries_the_schema_fields_in_the_schema_order() -> None:
    node = compact_node(make_node("eks", 7))

    assert list(node) == [info.alias or name for name, info in Node.model_fields.items()]
    assert node["osImage"] == "Amazon Linux 2023.5.20240916"
    assert node["kubeletVersion"] == "v1.30.4-eks-a737599"


@pytest.mark.parametrize("raw", sample_nodes(), ids=lambda n: n["metadata"]["name"])
def test_a_fully_populated_kubernetes_node_fills_every_report_node_field(raw: dict[str, Any]) -> None:
    node = Node.model_validate(compact_node(raw))

    assert [name for name in Node.model_fields if getattr(node, name) is None] == []


def test_empty_node_info_strings_are_omitted() -> None:
    raw = make_node("aks", 2)
    raw["status"]["nodeInfo"]["osImage"] = ""
    del raw["status"]["nodeInfo"]["kernelVersion"]

    node = compact_node(raw)

    assert "osImage" not in node
    assert "kernelVersion" not in node


def test_capacity_is_sorted_by_resource_with_quantities_as_served() -> None:
    raw = make_node("gke", 1)
    raw["status"]["capacity"] = {"pods": "110", "memory": "16393220Ki", "cpu": "4", "nvidia.com/gpu": "1"}

    assert compact_node(raw)["capacity"] == [
        {"resource": "cpu", "value": "4"},
        {"resource": "memory", "value": "16393220Ki"},
        {"resource": "nvidia.com/gpu", "value": "1"},
        {"resource": "pods", "value": "110"},
    ]


def test_node_without_capacity_has_no_capacity_field() -> None:
    raw = make_node("gke", 1)
    del raw["status"]["capacity"]

    assert "capacity" not in compact_node(raw)


def test_names_addresses_labels_annotations_images_and_conditions_never_leave_the_cluster() -> None:
    raw = make_node("eks", 12)

    wire = json.dumps(compact_node(raw))

    name = raw["metadata"]["name"]
    for secret in (name, "10.132.", "eks.amazonaws.com", "csi.volume", "registry.k8s.io", "KubeletReady", "i-0"):
        assert secret not in wire


def test_fields_of_unexpected_types_are_treated_as_absent() -> None:
    raw: dict[str, Any] = {"metadata": "odd", "spec": {"providerID": 7}, "status": {"nodeInfo": {"osImage": 5}}}

    node = compact_node(raw)

    assert node == {"id": _md5(""), "cloudProvider": "unknown"}


def test_parse_node_list_reads_items_and_the_continue_token() -> None:
    nodes = sample_nodes()
    raw = node_list_page(nodes, offset=0, limit=2, total=len(nodes))

    items, token = parse_node_list(raw)

    assert [item["metadata"]["name"] for item in items] == [n["metadata"]["name"] for n in nodes[:2]]
    assert token
    assert "managedFields" not in items[0]["metadata"]  # only what is read is built


def test_parse_node_list_of_the_last_page_has_no_continue_token() -> None:
    nodes = sample_nodes()

    items, token = parse_node_list(node_list_page(nodes, offset=4, limit=2, total=len(nodes)))

    assert len(items) == 1
    assert token == ""


@pytest.mark.parametrize("raw", [b"<html>502</html>", b'{"items": 5}', b"[]"])
def test_parse_node_list_rejects_what_is_not_a_node_list(raw: bytes) -> None:
    with pytest.raises(ValueError, match="validation error"):
        parse_node_list(raw)
