"""Real-shaped Kubernetes Node objects, as ``GET /api/v1/nodes`` returns them.

The shapes follow what GKE, EKS, AKS and kind clusters serve today: labels,
annotations, managed fields, conditions, addresses, cached images and the
``nodeInfo`` block, so that parsing and memory figures are measured on the
same bulk a real API server sends. One flavour has no ``providerID`` at all,
as on bare metal.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

_CREATED: Final = "2026-10-01T08:12:44Z"
_HEARTBEAT: Final = "2026-11-27T09:30:12Z"


@dataclass(frozen=True)
class Flavour:
    """What differs between providers' nodes."""

    key: str
    name_format: str
    provider_id_format: str | None
    os_image: str
    kernel_version: str
    container_runtime_version: str
    kubelet_version: str
    architecture: str
    capacity: dict[str, str]
    labels: dict[str, str]


FLAVOURS: Final = (
    Flavour(
        key="gke",
        name_format="gke-prod-default-pool-3f2a1b7c-{i:05d}",
        provider_id_format="gce://spartakus-prod/europe-west1-b/{name}",
        os_image="Container-Optimized OS from Google",
        kernel_version="6.1.100+",
        container_runtime_version="containerd://1.7.22",
        kubelet_version="v1.31.1-gke.1678000",
        architecture="amd64",
        capacity={
            "cpu": "4",
            "ephemeral-storage": "98831908Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": "16393220Ki",
            "pods": "110",
        },
        labels={
            "cloud.google.com/gke-boot-disk": "pd-balanced",
            "cloud.google.com/gke-container-runtime": "containerd",
            "cloud.google.com/gke-nodepool": "default-pool",
            "cloud.google.com/gke-os-distribution": "cos",
            "cloud.google.com/machine-family": "e2",
            "node.kubernetes.io/instance-type": "e2-standard-4",
            "topology.gke.io/zone": "europe-west1-b",
            "topology.kubernetes.io/region": "europe-west1",
            "topology.kubernetes.io/zone": "europe-west1-b",
        },
    ),
    Flavour(
        key="eks",
        name_format="ip-192-168-{a}-{b}.eu-west-1.compute.internal",
        provider_id_format="aws:///eu-west-1a/i-0{hex17}",
        os_image="Amazon Linux 2023.5.20240916",
        kernel_version="6.1.109-118.189.amzn2023.x86_64",
        container_runtime_version="containerd://1.7.22",
        kubelet_version="v1.30.4-eks-a737599",
        architecture="amd64",
        capacity={
            "cpu": "8",
            "ephemeral-storage": "83873772Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": "32386520Ki",
            "pods": "58",
        },
        labels={
            "eks.amazonaws.com/capacityType": "ON_DEMAND",
            "eks.amazonaws.com/nodegroup": "workers",
            "eks.amazonaws.com/nodegroup-image": "ami-0c1a2b3c4d5e6f789",
            "k8s.io/cloud-provider-aws": "5b0f6c5a2b7f4d2e9a1c3e5f7a9b1d3c",
            "node.kubernetes.io/instance-type": "m5.2xlarge",
            "topology.kubernetes.io/region": "eu-west-1",
            "topology.kubernetes.io/zone": "eu-west-1a",
        },
    ),
    Flavour(
        key="aks",
        name_format="aks-nodepool1-12345678-vmss{i:06d}",
        provider_id_format=(
            "azure:///subscriptions/9f2c1a3e-5b7d-4e6f-8a9b-0c1d2e3f4a5b/resourceGroups/mc_spartakus_prod_westeurope"
            "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-12345678-vmss/virtualMachines/{i}"
        ),
        os_image="Ubuntu 22.04.5 LTS",
        kernel_version="5.15.0-1073-azure",
        container_runtime_version="containerd://1.7.20-1",
        kubelet_version="v1.30.3",
        architecture="amd64",
        capacity={
            "cpu": "4",
            "ephemeral-storage": "129886128Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": "16375244Ki",
            "pods": "110",
        },
        labels={
            "agentpool": "nodepool1",
            "kubernetes.azure.com/agentpool": "nodepool1",
            "kubernetes.azure.com/cluster": "MC_spartakus_prod_westeurope",
            "kubernetes.azure.com/os-sku": "Ubuntu",
            "kubernetes.azure.com/role": "agent",
            "node.kubernetes.io/instance-type": "Standard_D4s_v3",
            "topology.kubernetes.io/region": "westeurope",
            "topology.kubernetes.io/zone": "westeurope-1",
        },
    ),
    Flavour(
        key="kind",
        name_format="kind-worker{i}",
        provider_id_format="kind://docker/kind/{name}",
        os_image="Debian GNU/Linux 12 (bookworm)",
        kernel_version="6.10.14-linuxkit",
        container_runtime_version="containerd://1.7.18",
        kubelet_version="v1.31.0",
        architecture="arm64",
        capacity={
            "cpu": "8",
            "ephemeral-storage": "61202244Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "hugepages-32Mi": "0",
            "hugepages-64Ki": "0",
            "memory": "8025424Ki",
            "pods": "110",
        },
        labels={"ingress-ready": "true"},
    ),
    Flavour(
        key="bare-metal",
        name_format="rack2-gpu-{i:04d}",
        provider_id_format=None,
        os_image="Ubuntu 24.04.1 LTS",
        kernel_version="6.8.0-48-generic",
        container_runtime_version="cri-o://1.31.1",
        kubelet_version="v1.31.2",
        architecture="amd64",
        capacity={
            "cpu": "64",
            "ephemeral-storage": "1921724676Ki",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
            "memory": "528151324Ki",
            "nvidia.com/gpu": "8",
            "pods": "110",
        },
        labels={"nvidia.com/gpu.present": "true", "node-role.kubernetes.io/gpu": ""},
    ),
)
FLAVOUR_BY_KEY: Final = {flavour.key: flavour for flavour in FLAVOURS}

_IMAGES: Final = (
    ("registry.k8s.io/kube-proxy", 30_000_000),
    ("registry.k8s.io/pause", 320_000),
    ("registry.k8s.io/coredns/coredns", 18_000_000),
    ("registry.k8s.io/metrics-server/metrics-server", 19_500_000),
    ("docker.io/calico/node", 115_000_000),
    ("docker.io/library/nginx", 71_000_000),
    ("quay.io/prometheus/node-exporter", 11_700_000),
    ("quay.io/jetstack/cert-manager-controller", 16_500_000),
    ("ghcr.io/fluxcd/source-controller", 38_000_000),
    ("docker.io/grafana/promtail", 80_000_000),
)


def _digest(text: str, length: int = 64) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


@functools.cache
def _images() -> list[dict[str, Any]]:
    return [
        {"names": [f"{image}@sha256:{_digest(image)}", f"{image}:v1.{n}.0"], "sizeBytes": size}
        for n, (image, size) in enumerate(_IMAGES)
    ]


def _managed_fields(manager: str) -> dict[str, Any]:
    fields = {
        "f:metadata": {"f:annotations": {".": {}, "f:node.alpha.kubernetes.io/ttl": {}}, "f:labels": {".": {}}},
        "f:status": {
            "f:allocatable": {"f:cpu": {}, "f:memory": {}, "f:pods": {}},
            "f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:lastHeartbeatTime": {}, "f:status": {}}},
            "f:images": {},
            "f:nodeInfo": {"f:bootID": {}, "f:kubeletVersion": {}},
        },
    }
    return {
        "manager": manager,
        "operation": "Update",
        "apiVersion": "v1",
        "time": _HEARTBEAT,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }


def _conditions() -> list[dict[str, str]]:
    reasons = (
        ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    )
    return [
        {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": _HEARTBEAT,
            "lastTransitionTime": _CREATED,
            "reason": reason,
            "message": message,
        }
        for kind, status, reason, message in reasons
    ]


def _name(flavour: Flavour, i: int) -> str:
    return flavour.name_format.format(i=i, a=i // 250 % 256, b=i % 250)


def _metadata(shape: Flavour, name: str, i: int) -> dict[str, Any]:
    return {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_DNS, name)),
        "resourceVersion": str(100_000 + i),
        "creationTimestamp": _CREATED,
        "labels": {
            "beta.kubernetes.io/arch": shape.architecture,
            "beta.kubernetes.io/os": "linux",
            "kubernetes.io/arch": shape.architecture,
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            **shape.labels,
        },
        "annotations": {
            "node.alpha.kubernetes.io/ttl": "0",
            "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            "csi.volume.kubernetes.io/nodeid": f'{{"ebs.csi.aws.com":"{name}"}}',
        },
        "managedFields": [_managed_fields("kubelet"), _managed_fields("kube-controller-manager")],
    }


def _node_info(shape: Flavour, name: str, machine_id: str | None, system_uuid: str | None) -> dict[str, str]:
    return {
        "machineID": machine_id if machine_id is not None else _digest(f"machine-{name}", 32),
        "systemUUID": system_uuid if system_uuid is not None else str(uuid.uuid5(uuid.NAMESPACE_OID, name)),
        "bootID": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "kernelVersion": shape.kernel_version,
        "osImage": shape.os_image,
        "containerRuntimeVersion": shape.container_runtime_version,
        "kubeletVersion": shape.kubelet_version,
        "kubeProxyVersion": shape.kubelet_version,
        "operatingSystem": "linux",
        "architecture": shape.architecture,
    }


def make_node(
    flavour: str | Flavour,
    i: int = 0,
    *,
    name: str | None = None,
    machine_id: str | None = None,
    system_uuid: str | None = None,
) -> dict[str, Any]:
    """One Node object of ``flavour`` (``gke``, ``eks``, ``aks``, ``kind``, ``bare-metal``); ``i`` makes it unique."""
    shape = flavour if isinstance(flavour, Flavour) else FLAVOUR_BY_KEY[flavour]
    node_name = name if name is not None else _name(shape, i)
    spec: dict[str, Any] = {"podCIDR": f"10.{i // 256 % 256}.{i % 256}.0/24"}
    if shape.provider_id_format is not None:
        spec["providerID"] = shape.provider_id_format.format(name=node_name, i=i, hex17=_digest(node_name, 16))
    return {
        "metadata": _metadata(shape, node_name, i),
        "spec": spec,
        "status": {
            "capacity": dict(shape.capacity),
            "allocatable": {**shape.capacity, "cpu": f"{int(shape.capacity['cpu']) * 1000 - 60}m"},
            "conditions": _conditions(),
            "addresses": [
                {"type": "InternalIP", "address": f"10.132.{i // 256 % 256}.{i % 256}"},
                {"type": "Hostname", "address": node_name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": _node_info(shape, node_name, machine_id, system_uuid),
            "images": _images(),  # shared: every node caches the same images here
        },
    }


def sample_nodes() -> list[dict[str, Any]]:
    """One node of every flavour: GKE, EKS, AKS, kind and one without a providerID."""
    return [make_node(flavour, 1) for flavour in FLAVOURS]


def generate_nodes(count: int) -> Iterator[dict[str, Any]]:
    """``count`` distinct nodes, cycling through the flavours."""
    for i in range(count):
        yield make_node(FLAVOURS[i % len(FLAVOURS)], i)
