"""The ingest Deployment's memory limit is the one the gateway is tested in, and its budget fits it."""

from __future__ import annotations

from ingest.settings import IngestSettings
from tests.deploy.test_kubernetes import KUSTOMIZE_KINDS, container, env_value, load_manifests, one
from tests.ingest.test_memory import POD_LIMIT

_UNITS = {"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}


def quantity(text: str) -> int:
    """A Kubernetes memory quantity in bytes (binary suffixes only, as the manifests use)."""
    for suffix, factor in _UNITS.items():
        if text.endswith(suffix):
            return int(text.removesuffix(suffix)) * factor
    return int(text)


def test_ingest_runs_in_the_memory_limit_it_is_tested_in_with_a_budget_of_half_of_it() -> None:
    manifests = [doc for doc in load_manifests() if doc["kind"] not in KUSTOMIZE_KINDS]
    deployment = one(manifests, "Deployment", "spartakus-ingest")
    limit = quantity(container(deployment)["resources"]["limits"]["memory"])
    budget = int(env_value(deployment, "SPARTAKUS_MAX_INFLIGHT_BYTES"))

    assert limit == POD_LIMIT
    assert budget == limit // 2 == IngestSettings.model_fields["max_inflight_bytes"].default
