"""In-memory twins of the volunteer's ports, for unit tests only (integration tests use the wire stand-ins)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from volunteer.errors import VolunteerError


@dataclass
class InMemoryCluster:
    """A ``ClusterReader`` over a list of Node dicts, served in pages; ``failures`` are raised first, one a read."""

    nodes: Sequence[Mapping[str, Any]] = ()
    git_version: str = "v1.31.1"
    page_size: int = 2
    failures: deque[VolunteerError] = field(default_factory=deque)
    description: str = "in-memory cluster"
    reads: int = 0
    closed: bool = False

    def server_version(self) -> str:
        self.reads += 1
        if self.failures:
            raise self.failures.popleft()
        return self.git_version

    def node_pages(self) -> Iterator[Sequence[Mapping[str, Any]]]:
        for start in range(0, len(self.nodes), self.page_size):
            yield self.nodes[start : start + self.page_size]

    def close(self) -> None:
        self.closed = True


@dataclass
class RecordingSender:
    """A ``ReportSender`` that records bodies; ``failures`` are raised first, one a send."""

    failures: deque[VolunteerError] = field(default_factory=deque)
    bodies: list[bytes] = field(default_factory=list)
    description: str = "in-memory collector"
    closed: bool = False

    def send(self, body: bytes) -> str:
        self.bodies.append(body)
        if self.failures:
            raise self.failures.popleft()
        return "delivered"

    def close(self) -> None:
        self.closed = True
