"""The volunteer's Kubernetes manifests: kinds, least-privilege RBAC, security context, ConfigMap wiring."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from schema.report import qualified_name_error
from tests.support.services import missing_service

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "volunteer"
SIDECAR_EXAMPLE = "sidecar-example.yaml"


def _documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc]


def _all() -> dict[str, list[dict[str, Any]]]:
    return {path.name: _documents(path.name) for path in sorted(MANIFESTS.glob("*.yaml"))}


def _applied() -> list[dict[str, Any]]:
    """What ``kubectl apply -k`` applies: the kustomization's resources."""
    kustomization = _documents("kustomization.yaml")[0]
    return [doc for name in kustomization["resources"] for doc in _documents(name)]


def _one(kind: str) -> dict[str, Any]:
    [doc] = [d for d in _applied() if d["kind"] == kind]
    return doc


def _deployments() -> list[dict[str, Any]]:
    return [d for docs in _all().values() for d in docs if d["kind"] == "Deployment"]


def test_every_manifest_parses_and_the_kustomization_applies_all_but_the_example() -> None:
    files = _all()
    kustomization = files.pop("kustomization.yaml")[0]

    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(set(files) - {SIDECAR_EXAMPLE})
    assert all(doc.get("apiVersion") and doc.get("kind") for docs in files.values() for doc in docs)


def test_the_kinds_are_the_ones_a_volunteer_needs() -> None:
    kinds = sorted(doc["kind"] for doc in _applied())

    assert kinds == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Namespace",
        "ServiceAccount",
    ]


def test_no_namespaced_role_is_used_because_it_cannot_grant_nodes() -> None:
    assert not [d for docs in _all().values() for d in docs if d["kind"] in {"Role", "RoleBinding"}]


def test_the_cluster_role_grants_get_and_list_nodes_and_get_version_only() -> None:
    rules = _one("ClusterRole")["rules"]

    normalised = sorted(json.dumps({k: sorted(v) for k, v in rule.items()}, sort_keys=True) for rule in rules)
    assert normalised == sorted(
        [
            json.dumps({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}, sort_keys=True),
            json.dumps({"nonResourceURLs": ["/version"], "verbs": ["get"]}, sort_keys=True),
        ]
    )


def test_the_binding_gives_the_cluster_role_to_the_volunteers_service_account() -> None:
    binding, role, account = _one("ClusterRoleBinding"), _one("ClusterRole"), _one("ServiceAccount")

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": account["metadata"]["namespace"]}
    ]


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["metadata"]["name"])
def test_deployments_run_one_replica_as_the_service_account(deployment: dict[str, Any]) -> None:
    spec = deployment["spec"]

    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
    assert spec["template"]["spec"]["serviceAccountName"] == _one("ServiceAccount")["metadata"]["name"]


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["metadata"]["name"])
def test_every_container_is_non_root_read_only_and_unprivileged(deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "privileged" not in context


def _volunteer(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    [container] = [c for c in containers if c["name"] == "volunteer"]
    return container


@pytest.mark.parametrize("deployment", _deployments(), ids=lambda d: d["metadata"]["name"])
def test_the_volunteer_requests_10m_cpu_and_32mi_and_takes_its_cluster_id_from_a_configmap(
    deployment: dict[str, Any],
) -> None:
    container = _volunteer(deployment)
    config = next(d for d in _applied() if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "spartakus-volunteer")

    assert container["resources"]["requests"] == {"cpu": "10m", "memory": "32Mi"}
    assert container["args"][0] == "volunteer"
    env = {e["name"]: e["valueFrom"]["configMapKeyRef"] for e in container["env"]}
    assert env["SPARTAKUS_CLUSTER_ID"] == {"name": "spartakus-volunteer", "key": "cluster-id"}
    assert "cluster-id" in config["data"]
    assert env["SPARTAKUS_DATABASE"]["key"] in config["data"]


def test_the_extensions_configmap_is_mounted_as_the_extensions_directory() -> None:
    deployment = _one("Deployment")
    container = _volunteer(deployment)
    [mount] = container["volumeMounts"]
    [volume] = deployment["spec"]["template"]["spec"]["volumes"]
    extensions = next(d for d in _applied() if d["metadata"]["name"] == volume["configMap"]["name"])

    assert f"--extensions={mount['mountPath']}" in container["args"]
    assert mount["name"] == volume["name"]
    assert "subPath" not in mount  # a directory, so edits reach the pod
    assert extensions["kind"] == "ConfigMap"


def test_the_shipped_extensions_are_json_objects_with_valid_keys() -> None:
    extensions = next(d for d in _applied() if d["metadata"]["name"] == "spartakus-volunteer-extensions")

    for content in extensions["data"].values():
        entries = json.loads(content)
        assert isinstance(entries, dict)
        assert [qualified_name_error(key) for key in entries] == [None] * len(entries)


def test_the_sidecar_example_shares_its_extensions_directory_with_the_volunteer() -> None:
    [deployment] = _documents(SIDECAR_EXAMPLE)
    pod = deployment["spec"]["template"]["spec"]
    [shared] = [v["name"] for v in pod["volumes"] if "emptyDir" in v]
    mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for c in pod["containers"]}

    assert len(pod["containers"]) == 2
    assert all(shared in container_mounts for container_mounts in mounts.values())
    assert f"--extensions={mounts['volunteer'][shared]}" in _volunteer(deployment)["args"]


def test_kubectl_builds_the_kustomization() -> None:
    if shutil.which("kubectl") is None:
        missing_service("kubectl is not installed")
    result = subprocess.run(
        ["kubectl", "kustomize", str(MANIFESTS)], capture_output=True, text=True, check=False, timeout=60
    )

    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert all(
        doc["metadata"].get("namespace") == "spartakus-volunteer"
        for doc in built
        if doc["kind"] != "Namespace" and not doc["kind"].startswith("Cluster")
    )
    assert {
        c["image"] for d in built if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]
    } == {"spartakus:2.0.0"}
