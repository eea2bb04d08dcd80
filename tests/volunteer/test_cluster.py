"""The Kubernetes side on the wire: the official client, through a kubeconfig or in-cluster config, to the stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.k8s_api import KubeApiStandIn, make_tls_files, write_kubeconfig
from tests.support.k8s_nodes import generate_nodes, sample_nodes
from tests.volunteer.conftest import TOKEN
from volunteer.cluster import KubernetesCluster, connect
from volunteer.errors import (
    ClusterError,
    ForbiddenError,
    StartupError,
    TransientClusterError,
    UnauthorizedError,
    VolunteerError,
)

pytestmark = pytest.mark.integration


def _connect(kubeconfig: Path, page_size: int = 500, timeout: float = 5) -> KubernetesCluster:
    return connect(kubeconfig, timeout=timeout, page_size=page_size, environ={})


def _names(pages: list[Any]) -> list[str]:
    return [node["metadata"]["name"] for page in pages for node in page]


def test_reads_the_server_git_version(kubeconfig: Path) -> None:
    assert _connect(kubeconfig).server_version() == "v1.31.1-gke.1678000"


def test_lists_nodes_in_pages_with_limit_and_continue(k8s_api: KubeApiStandIn, kubeconfig: Path) -> None:
    pages = list(_connect(kubeconfig, page_size=2).node_pages())

    assert [len(page) for page in pages] == [2, 2, 1]
    assert _names(pages) == sorted(n["metadata"]["name"] for n in sample_nodes())  # the server's key order
    requests = k8s_api.list_requests()
    assert [r.query.get("limit") for r in requests] == ["2", "2", "2"]
    assert "continue" not in requests[0].query
    assert all(r.query.get("continue") for r in requests[1:])


def test_sends_the_kubeconfig_bearer_token(k8s_api: KubeApiStandIn, kubeconfig: Path) -> None:
    _connect(kubeconfig).server_version()

    assert {r.authorization for r in k8s_api.requests} == {f"Bearer {TOKEN}"}


def test_a_large_cluster_is_read_page_by_page(tmp_path: Path) -> None:
    with KubeApiStandIn(list(generate_nodes(1234))) as api:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        pages = list(_connect(kubeconfig).node_pages())

    assert [len(page) for page in pages] == [500, 500, 234]
    assert len(set(_names(pages))) == 1234


@pytest.mark.parametrize("status", [401, 403, 404])
def test_refusals_are_permanent_cluster_errors(k8s_api: KubeApiStandIn, kubeconfig: Path, status: int) -> None:
    k8s_api.fail_next("/api/v1/nodes", status)

    with pytest.raises(ClusterError, match=f"HTTP {status}.*scripted failure"):
        list(_connect(kubeconfig).node_pages())


def test_a_token_the_server_does_not_accept_is_named_as_such_with_no_rbac_advice(
    k8s_api: KubeApiStandIn, tmp_path: Path
) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", k8s_api.url, token="expired-token")  # noqa: S106

    with pytest.raises(UnauthorizedError) as error:
        list(_connect(kubeconfig).node_pages())
    message = str(error.value)
    assert "HTTP 401" in message
    assert "the token was not accepted" in message
    assert "ServiceAccount token" in message
    assert "ClusterRole" not in message


def test_a_node_list_rbac_refuses_says_what_the_cluster_role_must_grant(
    k8s_api: KubeApiStandIn, kubeconfig: Path
) -> None:
    k8s_api.fail_next("/api/v1/nodes", 403)

    with pytest.raises(ForbiddenError) as error:
        list(_connect(kubeconfig).node_pages())
    message = str(error.value)
    assert 'cannot list resource "nodes"' in message or 'cannot list resource "nodes"' in message
    assert "ClusterRole must grant list on nodes" in message


@pytest.mark.parametrize("status", [410, 429, 500, 503])
def test_server_trouble_and_expired_continue_tokens_are_transient(
    k8s_api: KubeApiStandIn, kubeconfig: Path, status: int
) -> None:
    k8s_api.fail_next("/api/v1/nodes", status, headers={"Retry-After": "7"})

    with pytest.raises(TransientClusterError, match=f"HTTP {status}") as error:
        list(_connect(kubeconfig).node_pages())
    assert error.value.retry_after == 7


def test_an_unreachable_api_server_is_transient(tmp_path: Path) -> None:
    with KubeApiStandIn() as api:
        url = api.url
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", url)

    with pytest.raises(TransientClusterError, match="GET /version"):
        _connect(kubeconfig).server_version()


def test_client_exceptions_never_leak(k8s_api: KubeApiStandIn, kubeconfig: Path) -> None:
    cluster = _connect(kubeconfig)
    for status in (400, 403, 500):
        k8s_api.fail_next("/version", status)
        with pytest.raises(VolunteerError) as error:
            cluster.server_version()
        assert type(error.value).__module__ == "volunteer.errors"
        assert type(error.value.__cause__).__module__.startswith("kubernetes")


def test_an_explicit_kubeconfig_that_does_not_exist_is_one_startup_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="--kubeconfig") as error:
        _connect(tmp_path / "missing")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("content", ["apiVersion: v1\nclusters: [\n", "just text", "{}"])
def test_a_kubeconfig_that_cannot_be_read_is_one_startup_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)

    with pytest.raises(StartupError, match="--kubeconfig") as error:
        _connect(path)
    assert "\n" not in str(error.value)


def test_without_any_configuration_the_error_names_everything_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    with pytest.raises(StartupError) as error:
        connect(None, timeout=5, page_size=500, environ={})

    message = str(error.value)
    assert "in-cluster config" in message
    assert str(tmp_path / ".kube" / "config") in message
    assert "\n" not in message


def test_kubeconfig_from_the_environment_is_used_when_no_flag_is_given(
    k8s_api: KubeApiStandIn, kubeconfig: Path
) -> None:
    cluster = connect(None, timeout=5, page_size=500, environ={"KUBECONFIG": str(kubeconfig)})

    assert cluster.description == f"kubeconfig {kubeconfig}"
    assert cluster.server_version() == k8s_api.git_version


def _service_account(directory: Path, ca: Path, token: str) -> Path:
    directory.mkdir()
    (directory / "token").write_text(token)
    (directory / "ca.crt").write_bytes(ca.read_bytes())
    return directory


def test_in_cluster_config_comes_first_and_speaks_tls_with_the_pod_token(tmp_path: Path, kubeconfig: Path) -> None:
    certfile, keyfile = make_tls_files(tmp_path)
    with KubeApiStandIn(
        sample_nodes(),
        token="pod-token",  # noqa: S106  # a test credential for the stand-in
        tls=(certfile, keyfile),
        git_version="v1.30.4-eks-a737599",
    ) as api:
        account = _service_account(tmp_path / "serviceaccount", certfile, "pod-token")
        environ = {
            "KUBERNETES_SERVICE_HOST": api.host,
            "KUBERNETES_SERVICE_PORT": str(api.port),
            "KUBECONFIG": str(kubeconfig),
        }

        cluster = connect(None, timeout=5, page_size=2, environ=environ, service_account_dir=account)

        assert cluster.description == "in-cluster config"
        assert cluster.server_version() == "v1.30.4-eks-a737599"
        assert len(_names(list(cluster.node_pages()))) == 5
        assert {r.authorization for r in api.requests} == {"bearer pod-token"}


def test_in_cluster_config_without_a_token_falls_back_to_the_kubeconfig(tmp_path: Path, kubeconfig: Path) -> None:
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443", "KUBECONFIG": str(kubeconfig)}

    cluster = connect(None, timeout=5, page_size=2, environ=environ, service_account_dir=tmp_path / "not-mounted")

    assert cluster.description == f"kubeconfig {kubeconfig}"
