"""``--cluster-id=auto``: a cluster id nobody has to invent or keep, derived from the kube-system namespace.

The ``kube-system`` namespace exists from a cluster's creation to its end, so
its UID identifies the cluster for as long as it lives. The UID seeds an
Ed25519 key pair (``schema.signature``), and the cluster id is derived from
the public key: the same cluster always has the same key and id, with no
Secret to store and no write permission, and each report is signed so that
no one without the UID can send reports under the id. The UID and the key
never leave the process; only the id, the public key and signatures do.

When the namespace cannot be read the volunteer stops with a clear message;
it never falls back to a random id, which would make every restart look like
a new cluster.
"""

from __future__ import annotations

import threading
from typing import Final, Protocol

from runtime.retry import RetryPolicy
from schema.signature import ClusterKey
from volunteer import retry
from volunteer.errors import StartupError, StoppedError, UnauthorizedError, VolunteerError

AUTO: Final = "auto"
AUTO_KEY_BUDGET_S: Final = 120.0
"""How long reading the kube-system namespace keeps retrying, at most."""
NAMESPACE: Final = "kube-system"
RBAC_HINT: Final = (
    "the volunteer's ClusterRole must grant get on namespaces with resourceNames [kube-system] "
    "(deploy/kubernetes/volunteer), or set --cluster-id to an id of your own"
)


class NamespaceReader(Protocol):
    """What the derivation needs from a cluster."""

    def namespace_uid(self, name: str) -> str:
        """``metadata.uid`` of the namespace ``name``.

        Raises:
            TransientClusterError: the API may answer when asked again.
            ClusterError: it will not (e.g. 403, 404, or no uid in the answer).
        """
        ...


def cluster_id_from_uid(uid: str) -> str:
    """The ``clusterID`` of the cluster whose kube-system namespace has ``uid``."""
    return ClusterKey(uid).cluster_id


def resolve_cluster_id(
    reader: NamespaceReader,
    *,
    deadline: float,
    stop: threading.Event,
    policy: RetryPolicy = retry.DEFAULT_POLICY,
) -> str:
    """The derived cluster id (see ``resolve_cluster_key``)."""
    return resolve_cluster_key(reader, deadline=deadline, stop=stop, policy=policy).cluster_id


def resolve_cluster_key(
    reader: NamespaceReader,
    *,
    deadline: float,
    stop: threading.Event,
    policy: RetryPolicy = retry.DEFAULT_POLICY,
) -> ClusterKey:
    """The cluster's signing key, reading the kube-system namespace with retries until ``deadline`` (monotonic).

    Raises:
        StartupError: when the namespace cannot be read (the process exits 2).
        StoppedError: when ``stop`` is set first.
    """
    try:
        uid = retry.call(
            lambda: reader.namespace_uid(NAMESPACE),
            what=f"reading the {NAMESPACE} namespace",
            deadline=deadline,
            stop=stop,
            policy=policy,
        )
    except StoppedError:
        raise
    except VolunteerError as e:
        hint = "" if isinstance(e, UnauthorizedError) else f"; {RBAC_HINT}"  # a rejected token is not about RBAC
        raise StartupError(f"--cluster-id={AUTO}: cannot read the {NAMESPACE} namespace ({e}){hint}") from e
    return ClusterKey(uid)
