"""Building one report's wire bytes from a cluster, page by page, with the schema's models.

Each page of Node objects is reduced to compact nodes, validated and
serialised with ``schema.report.Node`` right away, and only those bytes are
kept; the envelope (version, timestamp, cluster id, master version and
extensions) is a validated ``schema.report.Report``. Memory therefore holds
one page of Node objects plus the compact report, however large the cluster.
The fields come out in the original volunteer's order, empty ones left out.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any, Final

from pydantic import TypeAdapter

from schema.report import UNKNOWN_VERSION, Extension, Node, Report
from schema.splice import Value, array_items, array_pieces, close_with
from volunteer.errors import StoppedError
from volunteer.nodes import compact_node
from volunteer.ports import ClusterReader

_NODES: Final = TypeAdapter(list[Node])
_EXTENSIONS: Final = TypeAdapter(list[Extension])
# The envelope's own fields; nodes and extensions are appended after them, and
# the report id is left to the collector, which derives the same one.
_ENVELOPE_EXCLUDE: Final = frozenset({"nodes", "extensions", "report_id"})


def volunteer_version() -> str:
    """This volunteer's version as reports carry it, e.g. ``v2.0.0``."""
    try:
        return "v" + package_version("spartakus")
    except PackageNotFoundError:
        return UNKNOWN_VERSION


@dataclass(frozen=True)
class BuiltReport:
    """A report ready to send."""

    body: bytes
    nodes: int
    timestamp: str


def encode_nodes(items: Sequence[Mapping[str, Any]]) -> tuple[bytes, int]:
    """One page of raw Node objects as the comma-separated JSON of their compact nodes, and how many there were."""
    nodes = _NODES.validate_python([compact_node(item) for item in items if isinstance(item, Mapping)])
    return array_items(_NODES.dump_json(nodes, by_alias=True, exclude_none=True)), len(nodes)


def _read_nodes(cluster: ClusterReader, stop: threading.Event | None) -> tuple[list[bytes], int]:
    """Every page's encoded nodes, and how many nodes there were."""
    fragments: list[bytes] = []
    count = 0
    for page in cluster.node_pages():
        if stop is not None and stop.is_set():
            raise StoppedError("stopped while listing nodes")
        encoded, page_count = encode_nodes(page)
        if page_count:
            fragments.append(encoded)
            count += page_count
    return fragments, count


def _assemble(envelope: Report, fragments: list[bytes], extensions: Sequence[Extension]) -> bytes:
    head = envelope.model_dump_json(by_alias=True, exclude_none=True, exclude=set(_ENVELOPE_EXCLUDE)).encode()
    members: list[tuple[str, Value]] = []
    if fragments:
        members.append(("nodes", array_pieces(fragments)))  # joined once with the rest: the body is copied once
    if extensions:
        members.append(("extensions", _EXTENSIONS.dump_json(list(extensions))))
    return close_with(head, members)


def build_report(
    cluster: ClusterReader,
    *,
    cluster_id: str,
    extensions: Sequence[Extension],
    stop: threading.Event | None = None,
    version: str | None = None,
    clock: Callable[[], float] = time.time,
) -> BuiltReport:
    """Read the cluster and return the report's wire bytes.

    Raises:
        VolunteerError: the cluster's errors, as ``cluster`` raises them.
        StoppedError: when ``stop`` is set between two pages.
    """
    master_version = cluster.server_version()
    fragments, count = _read_nodes(cluster, stop)
    envelope = Report(
        version=version or volunteer_version(),
        timestamp=str(int(clock())),
        cluster_id=cluster_id,
        master_version=master_version or None,
    )
    body = _assemble(envelope, fragments, extensions)
    return BuiltReport(body=body, nodes=count, timestamp=envelope.timestamp)
