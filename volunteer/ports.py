"""The volunteer's ports: where cluster data comes from and where reports go.

``volunteer.cluster`` and ``volunteer.sender`` implement them for real; unit
tests use in-memory twins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol


class ClusterReader(Protocol):
    """What a report needs from a cluster."""

    description: str
    """Where the data comes from, for the log."""

    def server_version(self) -> str:
        """The API server's ``gitVersion``.

        Raises:
            TransientClusterError: the API may answer when asked again.
            ClusterError: it will not (e.g. 403).
        """
        ...

    def node_pages(self) -> Iterator[Sequence[Mapping[str, Any]]]:
        """Every Node object, one page at a time (Node objects as dicts, or the subset ``nodes.RawNode``).

        Raises as ``server_version`` does.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class ReportSender(Protocol):
    """A destination for report bodies."""

    description: str
    """Where reports go, for the log."""

    def send(self, body: bytes) -> str:
        """Deliver ``body`` once; return the outcome word for the log (``delivered``, ``printed``).

        Raises:
            TransientSendError: the attempt may succeed when tried again.
            PermanentError: it will not (``RejectedError`` for a 4xx other than 429).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
