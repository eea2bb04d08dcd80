"""``--cluster-id=auto``: the id derived from the kube-system namespace's UID, read through the official client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from runtime.retry import RetryPolicy
from tests.support.k8s_api import KUBE_SYSTEM_UID, KubeApiStandIn, make_tls_files, write_kubeconfig
from tests.support.k8s_nodes import sample_nodes
from volunteer.cluster import connect
from volunteer.errors import ClusterError, StartupError, StoppedError, TransientClusterError, VolunteerError
from volunteer.identity import cluster_id_from_uid, resolve_cluster_id

FAST = RetryPolicy(first_wait=0.01, max_wait=0.02)


@dataclass
class NamespaceTwin:
    """A ``NamespaceReader`` that raises ``failures`` first, one a read, then answers ``uid``."""

    uid: str = KUBE_SYSTEM_UID
    failures: deque[VolunteerError] = field(default_factory=deque)
    asked: list[str] = field(default_factory=list)

    def namespace_uid(self, name: str) -> str:
        self.asked.append(name)
        if self.failures:
            raise self.failures.popleft()
        return self.uid


def _resolve(reader: NamespaceTwin, *, budget: float = 5, stop: threading.Event | None = None) -> str:
    return resolve_cluster_id(reader, deadline=time.monotonic() + budget, stop=stop or threading.Event(), policy=FAST)


def _documented_id(uid: str) -> str:
    """The construction as the README writes it, with HKDF (RFC 5869) spelled out in hmac."""
    prk = hmac.new(b"spartakus", uid.encode(), hashlib.sha256).digest()
    seed = hmac.new(prk, b"spartakus cluster key v1" + b"\x01", hashlib.sha256).digest()
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    digest = hashlib.sha256(b"spartakus cluster id v1\x00" + public).digest()[:20]
    return "ed25519-" + base64.b32encode(digest).decode().lower()


def test_the_id_is_derived_from_the_key_the_kube_system_uid_seeds_as_documented() -> None:
    derived = cluster_id_from_uid("6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30")

    assert derived == _documented_id("6f0d3a52-9c1e-4b7a-8d2f-1e5c7b9a4d30")
    # Pinned as well: other tools reproduce it, so it must never change by accident.
    assert derived == "ed25519-boj2ogxykbxjzodx7mauhcds4dhfbgw4"


def test_the_raw_uid_is_never_the_id_and_different_clusters_get_different_ids() -> None:
    first, second = cluster_id_from_uid("uid-a"), cluster_id_from_uid("uid-b")

    assert first != second
    assert "uid-a" not in first


def test_the_kube_system_namespace_is_read_and_hashed() -> None:
    reader = NamespaceTwin()

    assert _resolve(reader) == cluster_id_from_uid(KUBE_SYSTEM_UID)
    assert reader.asked == ["kube-system"]


def test_an_api_server_that_is_briefly_away_is_retried() -> None:
    reader = NamespaceTwin(failures=deque([TransientClusterError("503"), TransientClusterError("timeout")]))

    assert _resolve(reader) == cluster_id_from_uid(KUBE_SYSTEM_UID)
    assert len(reader.asked) == 3


def test_a_refusal_is_a_startup_error_that_says_what_to_grant() -> None:
    reader = NamespaceTwin(failures=deque([ClusterError("GET /api/v1/namespaces/kube-system: HTTP 403 Forbidden")]))

    with pytest.raises(StartupError) as error:
        _resolve(reader)

    message = str(error.value)
    assert message.startswith("--cluster-id=auto: cannot read the kube-system namespace")
    assert "HTTP 403" in message
    assert "resourceNames [kube-system]" in message
    assert len(reader.asked) == 1


def test_an_api_server_that_stays_away_ends_in_a_startup_error_at_the_deadline() -> None:
    reader = NamespaceTwin(failures=deque([TransientClusterError("503")] * 1000))

    with pytest.raises(StartupError, match="503"):
        _resolve(reader, budget=0.2)
    assert 1 < len(reader.asked) < 1000


def test_a_stop_ends_the_retries() -> None:
    stop = threading.Event()
    stop.set()

    with pytest.raises(StoppedError):
        _resolve(NamespaceTwin(), stop=stop)


@pytest.mark.integration
def test_the_client_reads_the_namespace_uid_through_a_kubeconfig(k8s_api: KubeApiStandIn, kubeconfig: Path) -> None:
    cluster = connect(kubeconfig, timeout=5, page_size=500, environ={})

    assert cluster.namespace_uid("kube-system") == KUBE_SYSTEM_UID
    assert [r.path for r in k8s_api.requests] == ["/api/v1/namespaces/kube-system"]


@pytest.mark.integration
def test_the_client_reads_the_namespace_uid_in_cluster(tmp_path: Path) -> None:
    certfile, keyfile = make_tls_files(tmp_path)
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("pod-token")
    (account / "ca.crt").write_bytes(certfile.read_bytes())
    with KubeApiStandIn(sample_nodes(), token="pod-token", tls=(certfile, keyfile)) as api:  # noqa: S106  # test token
        environ = {"KUBERNETES_SERVICE_HOST": api.host, "KUBERNETES_SERVICE_PORT": str(api.port)}
        cluster = connect(None, timeout=5, page_size=500, environ=environ, service_account_dir=account)

        assert cluster.description == "in-cluster config"
        assert cluster.namespace_uid("kube-system") == KUBE_SYSTEM_UID


@pytest.mark.integration
@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (404, "NotFound")])
def test_a_namespace_the_client_may_not_read_is_a_permanent_error(
    k8s_api: KubeApiStandIn, kubeconfig: Path, status: int, reason: str
) -> None:
    k8s_api.fail_next("/api/v1/namespaces/kube-system", status, reason=reason)

    with pytest.raises(ClusterError, match=f"GET /api/v1/namespaces/kube-system: HTTP {status}"):
        connect(kubeconfig, timeout=5, page_size=500, environ={}).namespace_uid("kube-system")


@pytest.mark.integration
def test_a_missing_namespace_is_a_permanent_error(tmp_path: Path) -> None:
    with KubeApiStandIn(sample_nodes(), namespaces={}) as api:
        cluster = connect(write_kubeconfig(tmp_path / "kubeconfig", api.url), timeout=5, page_size=500, environ={})

        with pytest.raises(ClusterError, match=r'HTTP 404.*namespaces "kube-system" not found'):
            cluster.namespace_uid("kube-system")
