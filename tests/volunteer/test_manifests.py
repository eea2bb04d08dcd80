"""The volunteer's Kubernetes manifests: the base, the Deployment and CronJob overlays, RBAC, security, schedules.

The overlays are built with ``kubectl kustomize`` (client only, offline), as a user builds them.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.volunteer_bench import TARGET_IDLE_MIB, TARGET_RSS_MB
from schema.report import qualified_name_error
from tests.support.services import missing_service

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "volunteer"
SIDECAR_EXAMPLE = MANIFESTS / "sidecar-example.yaml"
SCHEDULE_SCRIPT = MANIFESTS / "cronjob" / "schedule.sh"
OVERLAYS = ("deployment", "cronjob")
CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* \*$")
MIB = 2**20

Manifest = dict[str, Any]


def _documents(path: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _build_dir(directory: Path) -> list[Manifest]:
    if shutil.which("kubectl") is None:
        missing_service("kubectl is not installed")
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@functools.cache
def _built(overlay: str) -> tuple[Manifest, ...]:
    """What ``kubectl apply -k deploy/kubernetes/volunteer/<overlay>`` applies ("" for the directory itself)."""
    return tuple(_build_dir(MANIFESTS / overlay))


def _one(overlay: str, kind: str) -> Manifest:
    [doc] = [d for d in _built(overlay) if d["kind"] == kind]
    return doc


def _pod(workload: Manifest) -> Manifest:
    template = workload["spec"]["jobTemplate"]["spec"] if workload["kind"] == "CronJob" else workload["spec"]
    pod: Manifest = template["template"]["spec"]
    return pod


def _volunteer(workload: Manifest) -> Manifest:
    containers: list[Manifest] = _pod(workload)["containers"]
    [container] = [c for c in containers if c["name"] == "volunteer"]
    return container


WORKLOADS = ("deployment", "cronjob", "sidecar-example")


def _workload(name: str) -> Manifest:
    if name == "sidecar-example":
        [deployment] = _documents(SIDECAR_EXAMPLE)
        return deployment
    return _one(name, "CronJob" if name == "cronjob" else "Deployment")


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]  # fails the test
    return int(number) * (1024 if unit == "Gi" else 1)


def _schedule(seed: str, copy: Path) -> str:
    result = subprocess.run(
        ["sh", str(copy / "cronjob" / "schedule.sh"), seed], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.startswith("schedule: ")
    schedule: str = _documents(copy / "cronjob" / "schedule.yaml")[0]["spec"]["schedule"]
    return schedule


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the manifests, for schedule.sh to write into."""
    return Path(shutil.copytree(MANIFESTS, tmp_path / "volunteer"))


def test_the_base_holds_everything_but_the_workload_and_each_overlay_adds_one() -> None:
    base = _documents(MANIFESTS / "base" / "kustomization.yaml")[0]
    base_files = {path.name for path in (MANIFESTS / "base").glob("*.yaml")} - {"kustomization.yaml"}

    assert sorted(base["resources"]) == sorted(base_files)
    assert _documents(MANIFESTS / "deployment" / "kustomization.yaml")[0]["resources"] == ["../base", "deployment.yaml"]
    assert _documents(MANIFESTS / "cronjob" / "kustomization.yaml")[0]["resources"] == ["../base", "cronjob.yaml"]
    assert _documents(MANIFESTS / "kustomization.yaml")[0]["resources"] == ["deployment"]


@pytest.mark.parametrize(
    ("overlay", "workload"), [("deployment", "Deployment"), ("cronjob", "CronJob"), ("", "Deployment")]
)
def test_each_overlay_builds_the_base_plus_its_workload_with_the_image_and_namespace(
    overlay: str, workload: str
) -> None:
    built = _built(overlay)

    assert sorted(doc["kind"] for doc in built) == sorted(
        ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "ConfigMap", "Namespace", "ServiceAccount", workload]
    )
    assert all(
        doc["metadata"].get("namespace") == "spartakus-volunteer"
        for doc in built
        if doc["kind"] != "Namespace" and not doc["kind"].startswith("Cluster")
    )
    assert {c["image"] for c in _pod(_one(overlay, workload))["containers"]} == {"spartakus:2.0.0"}
    assert all(doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "spartakus" for doc in built)


def test_no_namespaced_role_is_used_because_it_cannot_grant_nodes() -> None:
    assert not [d for overlay in OVERLAYS for d in _built(overlay) if d["kind"] in {"Role", "RoleBinding"}]


def test_the_cluster_role_grants_nodes_the_kube_system_namespace_by_name_and_version_only() -> None:
    rules = _one("deployment", "ClusterRole")["rules"]

    normalised = sorted(json.dumps({k: sorted(v) for k, v in rule.items()}, sort_keys=True) for rule in rules)
    assert normalised == sorted(
        [
            json.dumps({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}, sort_keys=True),
            json.dumps(
                {"apiGroups": [""], "resourceNames": ["kube-system"], "resources": ["namespaces"], "verbs": ["get"]},
                sort_keys=True,
            ),
            json.dumps({"nonResourceURLs": ["/version"], "verbs": ["get"]}, sort_keys=True),
        ]
    )


def test_the_binding_gives_the_cluster_role_to_the_volunteers_service_account() -> None:
    binding, role = _one("deployment", "ClusterRoleBinding"), _one("deployment", "ClusterRole")
    account = _one("deployment", "ServiceAccount")

    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": account["metadata"]["namespace"]}
    ]


def test_the_cluster_id_defaults_to_auto_and_reaches_every_workload_from_the_configmap() -> None:
    config = next(d for d in _built("deployment") if d["metadata"]["name"] == "spartakus-volunteer" and "data" in d)

    assert config["data"]["cluster-id"] == "auto"
    for name in WORKLOADS:
        env = {e["name"]: e["valueFrom"]["configMapKeyRef"] for e in _volunteer(_workload(name))["env"]}
        assert env["SPARTAKUS_CLUSTER_ID"] == {"name": "spartakus-volunteer", "key": "cluster-id"}
        assert env["SPARTAKUS_DATABASE"] == {"name": "spartakus-volunteer", "key": "database"}


@pytest.mark.parametrize("name", WORKLOADS)
def test_every_container_is_non_root_read_only_and_unprivileged(name: str) -> None:
    pod = _pod(_workload(name))

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] > 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == "spartakus-volunteer"
    assert pod["enableServiceLinks"] is False
    for container in pod["containers"]:
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["runAsNonRoot"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "privileged" not in context


def test_the_cronjob_runs_exactly_as_the_deployment_does_but_once_per_run() -> None:
    deployment, cronjob = _one("deployment", "Deployment"), _one("cronjob", "CronJob")
    pod, job_pod = _pod(deployment), _pod(cronjob)
    container, job_container = _volunteer(deployment), _volunteer(cronjob)

    assert job_pod["securityContext"] == pod["securityContext"]
    assert job_container["securityContext"] == container["securityContext"]
    assert job_pod["volumes"] == pod["volumes"]
    assert job_container["volumeMounts"] == container["volumeMounts"]
    assert job_container["env"] == container["env"]
    assert job_container["command"] == container["command"]
    assert job_container["args"] == ["volunteer", "--period=0", *container["args"][2:]]
    assert container["args"][:2] == ["volunteer", "--period=24h"]
    assert job_pod["restartPolicy"] == "Never"


def test_the_cronjob_never_overlaps_and_keeps_a_short_history() -> None:
    spec = _one("cronjob", "CronJob")["spec"]

    assert spec["concurrencyPolicy"] == "Forbid"
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 3
    assert 1 <= spec["failedJobsHistoryLimit"] <= 3
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 120  # longer than a one-shot's retry budget


def test_memory_requests_and_limits_follow_the_measured_figures() -> None:
    deployment = _volunteer(_one("deployment", "Deployment"))["resources"]
    cronjob = _volunteer(_one("cronjob", "CronJob"))["resources"]

    # Most of the day the Deployment's pod only waits, within the idle target; a CronJob's pod exists only to report.
    assert _mebibytes(deployment["requests"]["memory"]) <= TARGET_IDLE_MIB
    assert _mebibytes(cronjob["requests"]["memory"]) > _mebibytes(deployment["requests"]["memory"])
    for resources in (deployment, cronjob):
        assert _mebibytes(resources["limits"]["memory"]) * MIB >= TARGET_RSS_MB * 1e6  # a 65,000-node report fits


def test_the_shipped_schedule_is_refused_until_schedule_sh_has_run() -> None:
    schedule = _one("cronjob", "CronJob")["spec"]["schedule"]

    assert not CRON.match(schedule)
    assert "schedule.sh" in schedule


def test_schedule_sh_writes_a_daily_schedule_that_kubectl_builds_into_the_cronjob(copy: Path) -> None:
    schedule = _schedule("6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30", copy)

    minute, hour = map(int, CRON.fullmatch(schedule).groups())  # type: ignore[union-attr]  # fails the test
    assert 0 <= minute < 60
    assert 0 <= hour < 24
    [cronjob] = [d for d in _build_dir(copy / "cronjob") if d["kind"] == "CronJob"]
    assert cronjob["spec"]["schedule"] == schedule
    assert _schedule("6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30", copy) == schedule  # a re-install keeps its minute


def test_a_fleet_of_clusters_is_spread_over_the_minutes_of_the_day(copy: Path) -> None:
    schedules = [_schedule(f"{i:08x}-0000-4000-8000-000000000000", copy) for i in range(200)]
    minutes = [int(h) * 60 + int(m) for m, h in (CRON.fullmatch(s).groups() for s in schedules)]  # type: ignore[union-attr]

    assert len(set(minutes)) >= 180  # 200 clusters, 1,440 minutes: few share one
    assert {minute // 60 for minute in minutes} == set(range(24))
    assert max(minutes.count(minute) for minute in minutes) <= 3


def test_the_extensions_configmap_is_mounted_as_the_extensions_directory() -> None:
    deployment = _one("deployment", "Deployment")
    container = _volunteer(deployment)
    [mount] = container["volumeMounts"]
    [volume] = _pod(deployment)["volumes"]
    extensions = next(d for d in _built("deployment") if d["metadata"]["name"] == volume["configMap"]["name"])

    assert f"--extensions={mount['mountPath']}" in container["args"]
    assert mount["name"] == volume["name"]
    assert "subPath" not in mount  # a directory, so edits reach the pod
    assert extensions["kind"] == "ConfigMap"


def test_the_shipped_extensions_are_json_objects_with_valid_keys() -> None:
    extensions = next(d for d in _built("deployment") if d["metadata"]["name"] == "spartakus-volunteer-extensions")

    for content in extensions["data"].values():
        entries = json.loads(content)
        assert isinstance(entries, dict)
        assert [qualified_name_error(key) for key in entries] == [None] * len(entries)


def test_the_sidecar_example_shares_its_extensions_directory_with_the_volunteer() -> None:
    [deployment] = _documents(SIDECAR_EXAMPLE)
    pod = _pod(deployment)
    [shared] = [v["name"] for v in pod["volumes"] if "emptyDir" in v]
    mounts = {c["name"]: {m["name"]: m["mountPath"] for m in c["volumeMounts"]} for c in pod["containers"]}

    assert len(pod["containers"]) == 2
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert all(shared in container_mounts for container_mounts in mounts.values())
    assert f"--extensions={mounts['volunteer'][shared]}" in _volunteer(deployment)["args"]


def test_the_deployment_runs_one_replica_so_one_cluster_sends_one_report() -> None:
    spec = _one("deployment", "Deployment")["spec"]

    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"
