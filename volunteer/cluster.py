"""The Kubernetes API, through the official client: the only module that imports ``kubernetes``.

Configuration: ``--kubeconfig`` when given; otherwise in-cluster config when
the pod has it, then ``$KUBECONFIG``, then ``~/.kube/config``. When none
works, one ``StartupError`` says what was tried.

Nodes are listed in pages (``limit`` and ``continue``) and each page is parsed
from the raw response (``_preload_content=False``), so memory holds one page
of Node objects at a time and no per-node client models are built. Client
exceptions are translated here into the volunteer's own errors.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.api.core_v1_api import CoreV1Api
from kubernetes.client.api.version_api import VersionApi
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_HOST_ENV_NAME, InClusterConfigLoader
from kubernetes.config.kube_config import load_kube_config

from volunteer.errors import ClusterError, ForbiddenError, StartupError, TransientClusterError, UnauthorizedError
from volunteer.nodes import RawNode, parse_node_list
from volunteer.retry import parse_retry_after

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
DEFAULT_KUBECONFIG: Final = Path("~/.kube/config")
MAX_CONNECT_TIMEOUT: Final = 10.0

# 410: the continue token expired (the list is restarted); 408/429/5xx: the server may recover.
_TRANSIENT_STATUSES: Final = frozenset({408, 410, 429})
UNAUTHORIZED: Final = 401
FORBIDDEN: Final = 403
TOKEN_HINT: Final = (
    "the token was not accepted: in a pod, check that the ServiceAccount token is mounted and current "
    f"(automountServiceAccountToken, {SERVICE_ACCOUNT_DIR}/token); with a kubeconfig, its user's credentials"
)
NODES_RBAC_HINT: Final = "the volunteer's ClusterRole must grant list on nodes (deploy/kubernetes/volunteer)"


def _configure(
    configuration: Configuration,
    kubeconfig: Path | None,
    environ: Mapping[str, str],
    service_account_dir: Path,
) -> str:
    """Load credentials into ``configuration``; return a description of where they came from."""
    if kubeconfig is not None:
        _load_kubeconfig(configuration, str(kubeconfig), "--kubeconfig")
        return f"kubeconfig {kubeconfig}"
    tried: list[str] = []
    if environ.get(SERVICE_HOST_ENV_NAME):
        loader = InClusterConfigLoader(  # type: ignore[no-untyped-call]  # the client leaves it unannotated
            token_filename=str(service_account_dir / "token"),
            cert_filename=str(service_account_dir / "ca.crt"),
            environ=environ,
        )
        try:
            loader.load_and_set(configuration)  # type: ignore[no-untyped-call]  # the client leaves it unannotated
        except ConfigException as e:
            tried.append(f"in-cluster config: {e}")
        else:
            return "in-cluster config"
    else:
        tried.append(f"in-cluster config: ${SERVICE_HOST_ENV_NAME} is not set")
    path = environ.get("KUBECONFIG") or str(DEFAULT_KUBECONFIG.expanduser())
    try:
        _load_kubeconfig(configuration, path, "kubeconfig")
    except StartupError as e:
        tried.append(str(e))
        raise StartupError("no usable Kubernetes configuration; tried " + "; ".join(tried)) from e
    return f"kubeconfig {path}"


def _load_kubeconfig(configuration: Configuration, path: str, what: str) -> None:
    try:
        load_kube_config(  # type: ignore[no-untyped-call]  # the client leaves it unannotated
            config_file=path, client_configuration=configuration, persist_config=False
        )
    # A kubeconfig that is not YAML, or YAML of the wrong shape, fails deep inside the loader.
    except (ConfigException, OSError, ValueError, TypeError, KeyError, yaml.YAMLError) as e:
        raise StartupError(f"{what} {path}: {_one_line(e)}") from e


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def connect(
    kubeconfig: Path | None,
    *,
    timeout: float,
    page_size: int,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> KubernetesCluster:
    """A reader for the cluster that the configuration points at. No request is made yet.

    Args:
        kubeconfig: ``--kubeconfig``; None for in-cluster config, then ``$KUBECONFIG``, then ``~/.kube/config``.
        timeout: read timeout of each request, in seconds.
        page_size: nodes per list request.
        environ: the environment to look in (``os.environ`` by default).
        service_account_dir: where the pod's service-account token and CA are mounted.

    Raises:
        StartupError: when no configuration can be loaded.
    """
    configuration = Configuration()
    source = _configure(configuration, kubeconfig, os.environ if environ is None else environ, service_account_dir)
    configuration.retries = 0  # volunteer.retry is the one retry policy
    return KubernetesCluster(ApiClient(configuration), timeout=timeout, page_size=page_size, description=source)


def _status_message(body: Any) -> str:
    """The ``message`` of a ``Status`` error body, else the start of the body; for the log."""
    if not body:
        return ""
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)
    try:
        message = json.loads(text).get("message")
    except (ValueError, AttributeError):
        message = None
    return ": " + " ".join(str(message or text).split())[:500]


def _retry_after(error: ApiException) -> float | None:
    headers = error.headers or {}
    return parse_retry_after(headers.get("Retry-After"))


@contextmanager
def _translated(what: str, *, forbidden_hint: str = "") -> Iterator[None]:
    """Turn the client's exceptions into ``ClusterError`` (permanent) or ``TransientClusterError``.

    A 401 is about the credentials and says so; a 403 is about RBAC and carries ``forbidden_hint``.
    """
    try:
        yield
    except ApiException as e:
        status = int(e.status or 0)
        detail = f"{what}: HTTP {status} {e.reason or ''}".rstrip() + _status_message(e.body)
        if status == 0 or status in _TRANSIENT_STATUSES or status >= 500:
            raise TransientClusterError(detail, retry_after=_retry_after(e)) from e
        if status == UNAUTHORIZED:
            raise UnauthorizedError(f"{detail}; {TOKEN_HINT}") from e
        if status == FORBIDDEN:
            raise ForbiddenError(f"{detail}; {forbidden_hint}" if forbidden_hint else detail) from e
        raise ClusterError(detail) from e
    except urllib3.exceptions.HTTPError as e:
        raise TransientClusterError(f"{what}: {type(e).__name__}: {_one_line(e)}") from e
    except ConfigException as e:  # raised while refreshing credentials
        raise ClusterError(f"{what}: {_one_line(e)}") from e
    except ValueError as e:  # JSON or NodeList shape errors: something other than the API server answered?
        raise TransientClusterError(f"{what}: unreadable answer: {_one_line(e)}") from e


def _read(response: Any) -> bytes:
    # With _preload_content=False the client returns the urllib3 response, whatever its annotations say.
    try:
        data: bytes = response.data
    finally:
        response.release_conn()
    return data


class KubernetesCluster:
    """``ClusterReader`` over the official client."""

    def __init__(self, api_client: ApiClient, *, timeout: float, page_size: int, description: str) -> None:
        self.description = description
        self._api_client = api_client
        self._timeout = (min(timeout, MAX_CONNECT_TIMEOUT), timeout)
        self._page_size = page_size

    def server_version(self) -> str:
        """``gitVersion`` from ``GET /version``."""
        with _translated("GET /version"):
            response = VersionApi(self._api_client).get_code(_preload_content=False, _request_timeout=self._timeout)
            info = json.loads(_read(response))
        version = info.get("gitVersion") if isinstance(info, dict) else None
        return version if isinstance(version, str) else ""

    def namespace_uid(self, name: str) -> str:
        """``metadata.uid`` from ``GET /api/v1/namespaces/<name>``."""
        what = f"GET /api/v1/namespaces/{name}"
        with _translated(what):
            response = CoreV1Api(self._api_client).read_namespace(
                name, _preload_content=False, _request_timeout=self._timeout
            )
            namespace = json.loads(_read(response))
        metadata = namespace.get("metadata") if isinstance(namespace, dict) else None
        uid = metadata.get("uid") if isinstance(metadata, dict) else None
        if not isinstance(uid, str) or not uid:
            raise ClusterError(f"{what}: the answer has no metadata.uid")
        return uid

    def node_pages(self) -> Iterator[list[RawNode]]:
        """``GET /api/v1/nodes`` page by page, following ``continue`` until the list ends."""
        api = CoreV1Api(self._api_client)
        token = ""
        while True:
            what = f"GET /api/v1/nodes (limit={self._page_size}, continue={'yes' if token else 'no'})"
            with _translated(what, forbidden_hint=NODES_RBAC_HINT):
                response = api.list_node(
                    limit=self._page_size,
                    _continue=token or None,
                    _preload_content=False,
                    _request_timeout=self._timeout,
                )
                items, token = parse_node_list(_read(response))
            yield items
            if not token:
                return

    def close(self) -> None:
        """Close the client's connections."""
        self._api_client.close()  # type: ignore[no-untyped-call]  # the client leaves it unannotated
