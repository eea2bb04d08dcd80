"""``--cluster-id=auto``: a cluster id nobody has to invent or keep, derived from the kube-system namespace.

The ``kube-system`` namespace exists from a cluster's creation to its end, so
its UID identifies the cluster for as long as it lives. The UID is hashed
rather than sent, so that the stored id cannot be joined with other tools
that report the raw UID. The derivation is a contract, so that other tools
can reproduce it::

    str(uuid.uuid5(uuid.NAMESPACE_URL, "spartakus:kube-system:" + uid))

When the namespace cannot be read the volunteer stops with a clear message;
it never falls back to a random id, which would make every restart look like
a new cluster.
"""

from __future__ import annotations

import threading
import uuid
from typing import Final, Protocol

from volunteer import retry
from volunteer.errors import StartupError, StoppedError, UnauthorizedError, VolunteerError

AUTO: Final = "auto"
NAMESPACE: Final = "kube-system"
PREFIX: Final = "spartakus:kube-system:"
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
    return str(uuid.uuid5(uuid.NAMESPACE_URL, PREFIX + uid))


def resolve_cluster_id(
    reader: NamespaceReader,
    *,
    deadline: float,
    stop: threading.Event,
    policy: retry.RetryPolicy | None = None,
) -> str:
    """The derived cluster id, reading the kube-system namespace with retries until ``deadline`` (monotonic).

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
            policy=policy or retry.RetryPolicy(),
        )
    except StoppedError:
        raise
    except VolunteerError as e:
        hint = "" if isinstance(e, UnauthorizedError) else f"; {RBAC_HINT}"  # a rejected token is not about RBAC
        raise StartupError(f"--cluster-id={AUTO}: cannot read the {NAMESPACE} namespace ({e}){hint}") from e
    return cluster_id_from_uid(uid)
