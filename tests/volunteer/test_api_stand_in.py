"""The Kubernetes API stand-in answers as a real API server (v1.36 with etcd) was seen to, on the wire."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.k8s_api import KubeApiStandIn
from tests.support.k8s_nodes import generate_nodes, sample_nodes
from tests.support.k8s_wire import canonical_quantity, decode_continue, encode_continue

pytestmark = pytest.mark.integration


@pytest.fixture
def api() -> Iterator[KubeApiStandIn]:
    with KubeApiStandIn(sample_nodes()) as server:
        yield server


def get(api: KubeApiStandIn, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(api.url + path, timeout=5) as response:  # noqa: S310  # the stand-in's URL
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_continue_tokens_are_unpadded_base64url_of_the_servers_json(api: KubeApiStandIn) -> None:
    status, page = get(api, "/api/v1/nodes?limit=2")
    assert status == 200
    token = page["metadata"]["continue"]
    assert "=" not in token
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    last = page["items"][-1]["metadata"]["name"]
    assert decoded == {"v": "meta.k8s.io/v1", "rv": int(page["metadata"]["resourceVersion"]), "start": last + "\x00"}
    assert page["metadata"]["remainingItemCount"] == 3


def test_nodes_come_in_key_order_and_a_continue_resumes_after_its_key(api: KubeApiStandIn) -> None:
    names: list[str] = []
    path = "/api/v1/nodes?limit=2"
    while True:
        _, page = get(api, path)
        names += [node["metadata"]["name"] for node in page["items"]]
        if not page["metadata"].get("continue"):
            break
        path = f"/api/v1/nodes?limit=2&continue={page['metadata']['continue']}"
    assert names == sorted(node["metadata"]["name"] for node in sample_nodes())


@pytest.mark.parametrize("limit", ["5", "0", "-1", ""])
def test_a_limit_that_covers_the_rest_or_none_returns_no_continue(api: KubeApiStandIn, limit: str) -> None:
    _, page = get(api, f"/api/v1/nodes?limit={limit}")
    assert len(page["items"]) == 5
    assert "continue" not in page["metadata"]
    assert "remainingItemCount" not in page["metadata"]


@pytest.mark.parametrize(
    "token",
    [
        "not-base64!",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"v":"other/v2","rv":1,"start":"a\\u0000"}').decode(),
        base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":1,"start":""}').decode(),
    ],
)
def test_a_malformed_continue_is_400_invalid_continue_token(api: KubeApiStandIn, token: str) -> None:
    status, body = get(api, f"/api/v1/nodes?limit=2&continue={token}")
    assert (status, body["reason"], body["code"]) == (400, "BadRequest", 400)
    assert body["message"].startswith("invalid continue token: continue key is not valid: ")


def test_an_expired_continue_is_410_expired_with_a_continue_to_carry_on(api: KubeApiStandIn) -> None:
    api.compact_after(1)
    _, first = get(api, "/api/v1/nodes?limit=2")
    status, body = get(api, f"/api/v1/nodes?limit=2&continue={first['metadata']['continue']}")
    assert (status, body["kind"], body["reason"], body["code"]) == (410, "Status", "Expired", 410)
    assert body["message"].startswith("The provided continue parameter is too old")
    rv, start = decode_continue(body["metadata"]["continue"])
    assert start == first["items"][-1]["metadata"]["name"] + "\x00"
    assert rv > int(first["metadata"]["resourceVersion"])
    status, rest = get(api, f"/api/v1/nodes?limit=5&continue={body['metadata']['continue']}")
    assert status == 200
    assert len(rest["items"]) == 3


def test_a_namespace_the_caller_may_not_read_is_403_with_details_existing_or_not() -> None:
    with KubeApiStandIn(namespaces={"kube-system": "u", "default": "d"}) as server:
        for name in ("default", "nowhere"):
            status, body = get(server, f"/api/v1/namespaces/{name}")
            assert (status, body["reason"]) == (403, "Forbidden")
            assert body["details"] == {"name": name, "kind": "namespaces"}
            assert f'namespaces "{name}" is forbidden: User "system:serviceaccount:' in body["message"]
        assert get(server, "/api/v1/namespaces/kube-system")[0] == 200


def test_a_scripted_refusal_of_the_node_list_carries_the_servers_details(api: KubeApiStandIn) -> None:
    api.fail_next("/api/v1/nodes", 403)
    status, body = get(api, "/api/v1/nodes")
    assert (status, body["reason"], body["details"]) == (403, "Forbidden", {"kind": "nodes"})
    assert 'cannot list resource "nodes" in API group "" at the cluster scope' in body["message"]


@pytest.mark.parametrize(
    ("written", "served"),
    [
        ("16777216Ki", "16Gi"),
        ("16393220Ki", "16393220Ki"),
        ("1.5Gi", "1536Mi"),
        ("512", "512"),
        ("1000", "1k"),
        ("4", "4"),
        ("3940m", "3940m"),
        ("2000m", "2"),
        ("0", "0"),
        ("0Ki", "0"),
        ("1e3", "1e3"),
        ("0.5", "500m"),
    ],
)
def test_quantities_are_served_canonical(written: str, served: str) -> None:
    assert canonical_quantity(written) == served


def test_capacity_written_in_ki_is_served_in_gi() -> None:
    [node] = list(generate_nodes(1))
    node["status"]["capacity"]["memory"] = "16777216Ki"
    with KubeApiStandIn([node]) as server:
        _, page = get(server, "/api/v1/nodes")
    assert page["items"][0]["status"]["capacity"]["memory"] == "16Gi"
    assert node["status"]["capacity"]["memory"] == "16777216Ki"  # what was written stays as written


def test_tokens_round_trip() -> None:
    assert decode_continue(encode_continue(7, "node-a")) == (7, "node-a\x00")
