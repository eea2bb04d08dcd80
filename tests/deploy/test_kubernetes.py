"""deploy/kubernetes/collector/: every manifest loaded and checked for kinds, probes, security and shutdown.

No API server runs here. The manifests are read as YAML; ``kubectl kustomize`` (client only, offline) also builds
the base and the base with the KEDA component, so the kustomizations stay buildable.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from runtime.settings import parse_duration, split_amqp_urls
from schema.topology import DEFAULT_QUEUE
from tests.deploy.dockerfiles import parse_dockerfile
from tests.deploy.roles import unknown_variables
from tests.support.services import missing_service

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "deploy" / "kubernetes" / "collector"
KUSTOMIZE_KINDS = {"Kustomization", "Component"}
RABBITMQ_USER_SECRET_NAME = "spartakus-rabbitmq-default-user"  # noqa: S105  # a Secret's name, no secret

Manifest = dict[str, Any]


def load_manifests() -> list[Manifest]:
    """Every document of every YAML file under the collector directory, kustomization files included."""
    documents: list[Manifest] = []
    for path in sorted(COLLECTOR.rglob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return [doc for doc in load_manifests() if doc["kind"] not in KUSTOMIZE_KINDS]


@pytest.fixture(scope="module")
def kustomization() -> Manifest:
    loaded: Manifest = yaml.safe_load((COLLECTOR / "kustomization.yaml").read_text())
    return loaded


@pytest.fixture(scope="module")
def config(kustomization: Manifest) -> dict[str, dict[str, str]]:
    """The generated ConfigMaps, by name: variable -> value."""
    return {
        generator["name"]: dict(literal.split("=", 1) for literal in generator["literals"])
        for generator in kustomization["configMapGenerator"]
    }


def one(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [doc for doc in manifests if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    only: Manifest = containers[0]
    return only


def env_names(deployment: Manifest, config: dict[str, dict[str, str]]) -> set[str]:
    spec = container(deployment)
    names = {variable["name"] for variable in spec.get("env", [])}
    for source in spec.get("envFrom", []):
        names |= set(config[source["configMapRef"]["name"]])
    return names


def env_value(deployment: Manifest, name: str) -> str:
    value: str = next(v["value"] for v in container(deployment)["env"] if v["name"] == name)
    return value


def broker_clients(manifests: list[Manifest]) -> list[Manifest]:
    """The Deployments that talk to RabbitMQ (all but the dashboard, which reads the store only)."""
    deployments = [doc for doc in manifests if doc["kind"] == "Deployment"]
    return [doc for doc in deployments if container(doc)["args"] != ["dashboard"]]


def test_the_collector_has_every_kind_it_needs(manifests: list[Manifest]) -> None:
    kinds = sorted(doc["kind"] for doc in manifests)

    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ServiceAccount",
            "Deployment",
            "Deployment",
            "Deployment",
            "Service",
            "Service",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "PodDisruptionBudget",
            "RabbitmqCluster",
            "ScaledObject",
            "TriggerAuthentication",
        ]
    )
    assert one(manifests, "RabbitmqCluster", "spartakus-rabbitmq")["apiVersion"] == "rabbitmq.com/v1beta1"
    assert one(manifests, "ScaledObject", "spartakus-writer")["apiVersion"] == "keda.sh/v1alpha1"


def test_secrets_are_referenced_never_inlined(manifests: list[Manifest]) -> None:
    assert not [doc for doc in manifests if doc["kind"] == "Secret"]
    text = "\n".join(path.read_text() for path in COLLECTOR.rglob("*.yaml"))
    assert not re.search(r"(?i)password\s*[:=]\s*[\"']?\w", text.replace("$(RABBITMQ_PASSWORD)", ""))
    for deployment in broker_clients(manifests):
        refs = [v["valueFrom"]["secretKeyRef"] for v in container(deployment)["env"] if "valueFrom" in v]
        assert {(ref["name"], ref["key"]) for ref in refs} == {
            (RABBITMQ_USER_SECRET_NAME, "username"),
            (RABBITMQ_USER_SECRET_NAME, "password"),
        }
        assert split_amqp_urls(env_value(deployment, "SPARTAKUS_AMQP_URL")) == [
            f"amqp://$(RABBITMQ_USERNAME):$(RABBITMQ_PASSWORD)@spartakus-rabbitmq-server-{n}.spartakus-rabbitmq-nodes:5672/"
            for n in range(3)
        ]


def test_components_get_one_broker_address_per_rabbitmq_replica(manifests: list[Manifest]) -> None:
    replicas = one(manifests, "RabbitmqCluster", "spartakus-rabbitmq")["spec"]["replicas"]
    for deployment in broker_clients(manifests):
        hosts = {urlsplit(url).hostname for url in split_amqp_urls(env_value(deployment, "SPARTAKUS_AMQP_URL"))}
        assert hosts == {f"spartakus-rabbitmq-server-{n}.spartakus-rabbitmq-nodes" for n in range(replicas)}


@pytest.mark.parametrize("name", ["spartakus-ingest", "spartakus-writer", "spartakus-dashboard"])
def test_pods_run_non_root_read_only_without_privileges_and_with_bounded_resources(
    manifests: list[Manifest], name: str
) -> None:
    deployment = one(manifests, "Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    spec = container(deployment)
    image_user = parse_dockerfile(ROOT / "Dockerfile")[-1].last("USER")

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert f"{pod['securityContext']['runAsUser']}:{pod['securityContext']['runAsGroup']}" == image_user
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False, "service links inject SPARTAKUS_*-looking variables"
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    for bound in ("requests", "limits"):
        assert set(spec["resources"][bound]) == {"cpu", "memory"}, bound
    assert spec["image"] == "spartakus"
    assert spec["args"] == [name.removeprefix("spartakus-")]


def test_ingest_is_probed_on_healthz_and_readyz_and_served_by_its_service(manifests: list[Manifest]) -> None:
    deployment = one(manifests, "Deployment", "spartakus-ingest")
    spec = container(deployment)
    service = one(manifests, "Service", "spartakus-ingest")
    budget = one(manifests, "PodDisruptionBudget", "spartakus-ingest")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    assert spec["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert spec["ports"] == [{"name": "http", "containerPort": int(env_value(deployment, "SPARTAKUS_PORT"))}]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"], "a drain must be able to evict one"


def test_the_dashboard_reads_the_writers_table_with_its_own_service_account_and_is_served(
    manifests: list[Manifest], config: dict[str, dict[str, str]]
) -> None:
    deployment = one(manifests, "Deployment", "spartakus-dashboard")
    pod = deployment["spec"]["template"]["spec"]
    account = one(manifests, "ServiceAccount", "spartakus-dashboard")
    service = one(manifests, "Service", "spartakus-dashboard")

    assert pod["serviceAccountName"] == "spartakus-dashboard"
    assert "spartakus-dashboard@" in account["metadata"]["annotations"]["iam.gke.io/gcp-service-account"]
    assert config["spartakus-dashboard"]["SPARTAKUS_DATABASE"] == config["spartakus-writer"]["SPARTAKUS_DATABASE"]
    assert "SPARTAKUS_AMQP_URL" not in env_names(deployment, config)
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container(deployment)[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert env_value(deployment, "SPARTAKUS_HOST") == "0.0.0.0"  # noqa: S104  # a pod serves on its own address


def test_ingest_gets_longer_than_its_own_shutdown_to_stop(manifests: list[Manifest]) -> None:
    deployment = one(manifests, "Deployment", "spartakus-ingest")
    pause = int(container(deployment)["lifecycle"]["preStop"]["exec"]["command"][1])
    from ingest.settings import IngestSettings  # noqa: PLC0415  # the default this manifest relies on

    shutdown = IngestSettings.model_fields["shutdown_timeout"].default.total_seconds()

    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > pause + shutdown


def test_three_writers_get_longer_than_one_batch_to_stop(
    manifests: list[Manifest], config: dict[str, dict[str, str]]
) -> None:
    deployment = one(manifests, "Deployment", "spartakus-writer")
    spec = container(deployment)
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    batch_max_wait = parse_duration(config["spartakus-writer"]["SPARTAKUS_BATCH_MAX_WAIT"]).total_seconds()

    assert deployment["spec"]["replicas"] == 3
    assert grace >= 30
    assert grace > 10 * batch_max_wait
    metrics_port = int(env_value(deployment, "SPARTAKUS_METRICS_PORT"))
    assert spec["ports"] == [{"name": "metrics", "containerPort": metrics_port}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert spec[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}, probe
    assert config["spartakus-writer"]["SPARTAKUS_DATABASE"].startswith("bigquery://")


def test_keda_scales_the_writers_on_the_report_queue_with_the_operator_secret(
    manifests: list[Manifest], config: dict[str, dict[str, str]], kustomization: Manifest
) -> None:
    scaled = one(manifests, "ScaledObject", "spartakus-writer")
    auth = one(manifests, "TriggerAuthentication", "spartakus-rabbitmq")
    writer = one(manifests, "Deployment", "spartakus-writer")
    (trigger,) = scaled["spec"]["triggers"]

    assert scaled["spec"]["scaleTargetRef"]["name"] == writer["metadata"]["name"]
    assert scaled["spec"]["minReplicaCount"] == writer["spec"]["replicas"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["queueName"] == config["spartakus"]["SPARTAKUS_QUEUE"] == DEFAULT_QUEUE
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["host"] == f"amqp://spartakus-rabbitmq.{kustomization['namespace']}.svc:5672/"
    assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert {(ref["parameter"], ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]} == {
        ("username", RABBITMQ_USER_SECRET_NAME, "username"),
        ("password", RABBITMQ_USER_SECRET_NAME, "password"),
    }


def test_the_keda_component_hands_the_replica_count_to_the_autoscaler() -> None:
    component: Manifest = yaml.safe_load((COLLECTOR / "keda" / "kustomization.yaml").read_text())
    (patch,) = component["patches"]

    assert component["kind"] == "Component"
    assert patch["target"]["name"] == "spartakus-writer"
    assert yaml.safe_load(patch["patch"]) == [{"op": "remove", "path": "/spec/replicas"}]


def test_rabbitmq_runs_three_nodes_for_its_quorum_queue(manifests: list[Manifest]) -> None:
    cluster = one(manifests, "RabbitmqCluster", "spartakus-rabbitmq")
    budget = one(manifests, "PodDisruptionBudget", "spartakus-rabbitmq")

    assert cluster["spec"]["replicas"] == 3
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": cluster["metadata"]["name"]}


def test_every_manifest_file_is_in_a_kustomization(kustomization: Manifest) -> None:
    component: Manifest = yaml.safe_load((COLLECTOR / "keda" / "kustomization.yaml").read_text())
    listed = {COLLECTOR / name for name in kustomization["resources"]}
    listed |= {COLLECTOR / "keda" / name for name in component["resources"]}

    files = {path for path in COLLECTOR.rglob("*.yaml") if path.name != "kustomization.yaml"}

    assert files == listed


def test_deployments_set_only_variables_their_role_reads(
    manifests: list[Manifest], config: dict[str, dict[str, str]]
) -> None:
    for deployment in (doc for doc in manifests if doc["kind"] == "Deployment"):
        role = container(deployment)["args"][0]
        assert unknown_variables(role, env_names(deployment, config)) == [], role


def kustomize(path: Path) -> list[Manifest]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        missing_service("kubectl is not installed; `kubectl kustomize` builds the manifests offline")
    assert kubectl is not None
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def test_kustomize_builds_the_base_into_one_namespace() -> None:
    built = kustomize(COLLECTOR)

    assert {doc["kind"] for doc in built} >= {"Deployment", "Service", "RabbitmqCluster", "ConfigMap"}
    assert {doc["kind"] for doc in built}.isdisjoint({"ScaledObject", "TriggerAuthentication"}), "KEDA is opt-in"
    namespaced = [doc for doc in built if doc["kind"] != "Namespace"]
    assert {doc["metadata"]["namespace"] for doc in namespaced} == {"spartakus"}
    deployments = [doc for doc in built if doc["kind"] == "Deployment"]
    refs = {source["configMapRef"]["name"] for doc in deployments for source in container(doc).get("envFrom", [])}
    generated = {doc["metadata"]["name"] for doc in built if doc["kind"] == "ConfigMap"}
    assert refs == generated, "the hashed ConfigMap names are wired into the pods"


def test_kustomize_builds_an_overlay_that_adds_the_keda_component(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    base = os.path.relpath(COLLECTOR, overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [base],
                "components": [f"{base}/keda"],
            }
        )
    )

    built = kustomize(overlay)

    writer = next(doc for doc in built if doc["kind"] == "Deployment" and doc["metadata"]["name"] == "spartakus-writer")
    assert "replicas" not in writer["spec"]
    keda = [doc for doc in built if doc["kind"] in {"ScaledObject", "TriggerAuthentication"}]
    assert len(keda) == 2
    assert {doc["metadata"]["namespace"] for doc in keda} == {"spartakus"}
