"""Reports through the running compose stack: real containers on a compose network, driven from the host."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Final

import pytest

from schema.signature import ClusterKey
from tests.compose.stack import VIEW, VOLUNTEER_ENV, VOLUNTEER_RUN, Stack
from tests.deploy.reports import post_go_volunteer_report
from tests.e2e.expected import by_key, expected_node, with_column_names, without_empty
from tests.ingest.gateway import go_volunteer_report
from tests.support.k8s_api import DEFAULT_GIT_VERSION, KUBE_SYSTEM_UID, write_kubeconfig
from tests.support.k8s_nodes import sample_nodes
from tests.support.services import wait_until

pytestmark = pytest.mark.compose

STORE_TIMEOUT: Final = 120.0
EXTENSIONS: Final = {"example.com/team": "platform", "example.com/replicas": 3}


def readable(path: Path, mode: int) -> Path:
    """``path`` readable by the containers' non-root users (pytest's temporary directories are private)."""
    path.chmod(mode)
    return path


def test_the_go_volunteers_exact_request_is_answered_204_and_lands_in_the_dedup_view(healthy: Stack) -> None:
    cluster_id = f"go-{uuid.uuid4()}"

    assert post_go_volunteer_report(healthy.ingest_port, cluster_id) == 204

    wait_until(
        lambda: bool(healthy.rows(cluster_id)), timeout=STORE_TIMEOUT, interval=0.5, what=f"{cluster_id} in {VIEW}"
    )
    (row,) = healthy.rows(cluster_id)
    stored = without_empty(with_column_names(row))
    sent = go_volunteer_report(cluster_id)
    assert stored["version"] == sent["version"]
    assert stored["masterVersion"] == sent["masterVersion"]
    assert stored["nodes"] == sent["nodes"]
    assert stored["extensions"] == sent["extensions"]
    assert stored["timestamp"].isdigit(), "the empty timestamp becomes the receive time"


def test_the_volunteer_service_reports_the_stand_in_cluster_with_its_derived_id_node_ids_and_extensions(
    healthy: Stack, tmp_path: Path
) -> None:
    healthy.compose("--profile", "test", "up", "--wait", "kube-api")
    kubeconfig = readable(write_kubeconfig(tmp_path / "kubeconfig", "http://kube-api:6443"), 0o644)
    extensions = tmp_path / "extensions"
    extensions.mkdir()
    readable(extensions, 0o755)
    (extensions / "team.json").write_text(json.dumps(EXTENSIONS))
    readable(extensions / "team.json", 0o644)
    # --cluster-id=auto: the id comes from the key derived from the kube-system namespace's UID (the stand-in's).
    cluster_id = ClusterKey(KUBE_SYSTEM_UID).cluster_id

    healthy.compose(
        *VOLUNTEER_RUN,
        env={
            **VOLUNTEER_ENV,
            "SPARTAKUS_HOST_KUBECONFIG": str(kubeconfig),
            "SPARTAKUS_HOST_EXTENSIONS": str(extensions),
        },
    )

    wait_until(lambda: bool(healthy.rows(cluster_id)), timeout=STORE_TIMEOUT, interval=0.5, what=f"{cluster_id} stored")
    (row,) = healthy.rows(cluster_id)
    stored = without_empty(with_column_names(row))
    assert stored["masterVersion"] == DEFAULT_GIT_VERSION
    assert stored["verified"] is True, "the volunteer signs its reports and the gateway checked the signature"
    assert by_key(stored["nodes"], "id") == by_key([expected_node(node) for node in sample_nodes()], "id")
    assert by_key(stored["extensions"], "name") == [
        {"name": "example.com/replicas", "value": "3"},
        {"name": "example.com/team", "value": "platform"},
    ]


def test_every_writer_replica_consumes_the_reports_queue(healthy: Stack) -> None:
    writers = healthy.containers("writer")
    addresses = {
        network["IPAddress"]
        for container in writers
        for network in healthy.inspect(container)["NetworkSettings"]["Networks"].values()
    }

    def consumer_hosts() -> set[str]:
        details = healthy.queue().get("consumer_details", [])
        return {detail["channel_details"]["peer_host"] for detail in details}

    wait_until(lambda: consumer_hosts() == addresses, timeout=60, interval=1, what=f"consumers from {addresses}")
    assert len(writers) == 3
    assert len(addresses) == 3
    assert healthy.queue()["consumers"] == 3


def test_the_stack_runs_the_rabbitmq_major_version_that_compose_deploys(healthy: Stack) -> None:
    # compose.yaml's default image is rabbitmq:4.1-management; the local stand-in is trixie's 4.0.x.
    overview = healthy.management("overview")
    assert str(overview["rabbitmq_version"]).startswith("4."), overview["rabbitmq_version"]
