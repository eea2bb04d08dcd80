"""Turning a queue message into table rows: validate the stored report and render it as compact JSON once.

Every sink takes the same ``Row``: the report id (the dedup key) and the
report as compact JSON bytes. A report too large for one BigQuery row is
rendered as several table rows, each with the report's columns, one slice of
its nodes in order, and ``part``/``parts``.

Memory stays a small multiple of the body: msgspec splits the body into the
raw bytes of each top-level field and of each node without building Python
objects, pydantic validates the report's head and then the nodes a slice at a
time, and each node is rendered on its own before the slices are joined.

Sizes are counted as the BigQuery client sends them: it re-encodes each row
with ``json.dumps`` defaults, which adds a space after every ``,`` and ``:``
and escapes non-ASCII text (``é`` becomes the six bytes ``\\u00e9``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from pydantic import TypeAdapter, ValidationError

from schema.message import MessageEncodingError, decode_body
from schema.report import Extension, Node, StoredReport, content_report_id, dump_report
from schema.splice import Value, array_pieces, close_with
from writer.errors import UndecodableMessageError

_MAX_REASON_ERRORS: Final = 3
NODE_SLICE: Final = 2_000
"""Nodes validated by pydantic at a time: bounds the Python objects alive at once."""

REQUEST_LIMIT_BYTES: Final = 10_485_760
"""BigQuery refuses an insertAll request larger than this."""
REQUEST_ENVELOPE_BYTES: Final = len('{"rows": [], "skipInvalidRows": true}')
ROW_WRAPPER_BYTES: Final = len('{"json": , "insertId": ""}, ')
"""What the client wraps around each row (and the separator after it), without the row and its insertId."""
MAX_ROW_BYTES: Final = 9_000_000
"""A report whose row would be larger than this in a request is split into parts no larger.

Fixed, not a setting: the same report must always split the same way, so that
a redelivered report's parts replace, in the dedup view, the parts written before.
"""
MAX_PART_NODES: Final = 100_000
"""Nodes in one row at most, however small: a store's cost to insert a row grows with its nodes (DuckDB's
memory above all), so a report of a million minimal nodes is stored as ten rows. Fixed, like ``MAX_ROW_BYTES``."""
MAX_REPORT_BYTES: Final = 64 * 2**20
"""The largest report JSON the writer reads (the gateway's inflated cap); a larger body is dead-lettered."""

MAX_OBJECTS: Final = 2_000_000
"""JSON objects one report may hold, counted as ``{`` bytes (an upper bound): the gateway's own cap on objects and
arrays, so a report the gateway accepted passes. Each node costs the writer about a hundred bytes while it renders
the report, so this bounds the memory of the smallest nodes as ``MAX_REPORT_BYTES`` bounds that of the largest."""

_TOP_LEVEL: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_NODE_LIST: Final = msgspec.json.Decoder(list[msgspec.Raw] | None)
_NODES: Final = TypeAdapter(list[Node])
_NODE: Final = TypeAdapter(Node)
_EXTENSIONS: Final = TypeAdapter(list[Extension])


@dataclass(frozen=True, slots=True)
class Row:
    """One report ready for a sink: one table row, or several when the report is split."""

    report_id: str
    payloads: tuple[bytes, ...]
    """Each table row as compact JSON with wire (camelCase) names, empty fields left out."""
    sizes: tuple[int, ...]
    """Bytes each table row takes in an insertAll request (at most), wrapper and insertId included."""

    @property
    def nbytes(self) -> int:
        """Bytes the whole report takes in insertAll requests."""
        return sum(self.sizes)

    @property
    def insert_ids(self) -> tuple[str, ...]:
        """The insertId of each table row: the report id, with ``/<part>`` for the parts of a split report."""
        if len(self.payloads) == 1:
            return (self.report_id,)
        return tuple(f"{self.report_id}/{part}" for part in range(len(self.payloads)))


def encoded_size(payload: bytes) -> int:
    """Bytes ``json.dumps`` (default separators, ``ensure_ascii``) makes of compact JSON ``payload``, at most.

    Every ``,`` and ``:`` is counted as gaining a space, including the few inside strings, so this
    may exceed the real size by those; it is never below it.
    """
    size = len(payload) + payload.count(b",") + payload.count(b":") + 5 * payload.count(b"\x7f")
    if not payload.isascii():
        text = payload.decode()
        ascii_chars = len(text.encode("ascii", "ignore"))
        astral = len(text.encode("utf-16-le")) // 2 - len(text)
        # Each non-ASCII character becomes \uXXXX (6 bytes), one outside the BMP a surrogate pair (12).
        size += 6 * (len(text) - ascii_chars) + 6 * astral - (len(payload) - ascii_chars)
    return size


def row_request_bytes(payload: bytes, insert_id: str) -> int:
    """Bytes one table row adds to an insertAll request, at most."""
    return encoded_size(payload) + ROW_WRAPPER_BYTES + len(insert_id)


def _received_at(header: object) -> datetime | None:
    if isinstance(header, bytes):
        header = header.decode(errors="replace")
    if not isinstance(header, str):
        return None
    try:
        parsed = datetime.fromisoformat(header)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _explain(error: ValidationError, prefix: Sequence[str | int] = (), offset: int = 0) -> str:
    parts = []
    for item in error.errors()[:_MAX_REASON_ERRORS]:
        loc = list(item["loc"])
        if prefix and loc and isinstance(loc[0], int):
            loc[0] += offset
        where = ".".join(str(p) for p in [*prefix, *loc]) or "body"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - _MAX_REASON_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _fields(text: bytes) -> dict[str, msgspec.Raw]:
    if (objects := text.count(b"{")) > MAX_OBJECTS:
        raise UndecodableMessageError(
            f"report too large to read: about {objects:,} JSON objects, over the writer's limit of {MAX_OBJECTS:,}"
        )
    try:
        return _TOP_LEVEL.decode(text)
    except msgspec.DecodeError as e:
        raise UndecodableMessageError(f"undecodable report: {e}") from e


def _head(fields: dict[str, msgspec.Raw], received_at: datetime) -> StoredReport:
    """The report without its nodes, validated."""
    head = b"{" + b",".join(msgspec.json.encode(k) + b":" + bytes(v) for k, v in fields.items()) + b"}"
    try:
        return StoredReport.model_validate_json(head, context={"received_at": received_at})
    except ValidationError as e:
        raise UndecodableMessageError(f"undecodable report: {_explain(e)}") from e


def _rendered_nodes(raw: msgspec.Raw | None) -> list[bytes] | None:
    """Each node validated and rendered as compact JSON, a slice at a time; None when the report has none."""
    if raw is None:
        return None
    try:
        nodes = _NODE_LIST.decode(raw)
    except msgspec.DecodeError as e:
        raise UndecodableMessageError(f"undecodable report: nodes: {e}") from e
    if nodes is None:
        return None
    rendered: list[bytes] = []
    for start in range(0, len(nodes), NODE_SLICE):
        chunk = b"[" + b",".join(bytes(n) for n in nodes[start : start + NODE_SLICE]) + b"]"
        try:
            models = _NODES.validate_json(chunk)
        except ValidationError as e:
            raise UndecodableMessageError(f"undecodable report: {_explain(e, ('nodes',), start)}") from e
        rendered.extend(_NODE.dump_json(node, by_alias=True, exclude_none=True) for node in models)
    return rendered


def _slices(head_size: int, node_sizes: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """``(start, end)`` node ranges whose rows stay within ``limit`` bytes and ``MAX_PART_NODES``, filled in order."""
    slices: list[tuple[int, int]] = []
    start, size = 0, head_size
    for index, node_size in enumerate(node_sizes):
        if index > start and (size + node_size > limit or index - start >= MAX_PART_NODES):
            slices.append((start, index))
            start, size = index, head_size
        size += node_size
    slices.append((start, len(node_sizes)))
    return slices


def _assemble(head: bytes, nodes: list[bytes] | None, report_id: str, max_row_bytes: int) -> Row:
    if nodes is None:
        return Row(report_id, (head,), (row_request_bytes(head, report_id),))
    # Each node adds its size plus the ", " before it (the first one's is counted too, harmlessly).
    node_sizes = [encoded_size(node) + 2 for node in nodes]
    whole = row_request_bytes(head, report_id) + len(',"nodes":[]') + 2 + sum(node_sizes)
    if whole <= max_row_bytes and len(nodes) <= MAX_PART_NODES:
        body = close_with(head, [("nodes", array_pieces(nodes))])
        return Row(report_id, (body,), (row_request_bytes(body, report_id),))
    # The largest suffix and insertId a part can have.
    most = len(nodes)
    suffix = encoded_size(b',"nodes":[],"part":%d,"parts":%d' % (most, most)) + len(f"/{most}")
    slices = _slices(row_request_bytes(head, report_id) + suffix, node_sizes, max_row_bytes)
    del node_sizes
    payloads: list[bytes] = []
    sizes: list[int] = []
    for part, (start, end) in enumerate(slices):
        payload = close_with(
            head, [("nodes", array_pieces(nodes[start:end])), ("part", b"%d" % part), ("parts", b"%d" % len(slices))]
        )
        # The slice's nodes are in the payload now; dropping them keeps one copy of the report alive.
        nodes[start:end] = [b""] * (end - start)
        payloads.append(payload)
        sizes.append(row_request_bytes(payload, f"{report_id}/{part}"))
        if sizes[-1] > max_row_bytes:
            raise UndecodableMessageError(
                f"report too large to store: one node with the report's other columns takes {sizes[-1]:,} bytes "
                f"in a BigQuery row, over {max_row_bytes:,}"
            )
    return Row(report_id, tuple(payloads), tuple(sizes))


def _content_id(report: StoredReport, nodes: list[bytes] | None) -> str:
    """The id the gateway gives this content, for a message that carries none (the gateway's always do).

    The head was validated without its nodes, so the id its model derived leaves them out; this one is
    the hash of the whole normalised report, fields in the model's order, as ``schema.report`` defines it.
    """
    head = dump_report(report.model_copy(update={"nodes": None, "extensions": None}), with_id=False)
    members: list[tuple[str, Value]] = []
    if nodes is not None:
        members.append(("nodes", array_pieces(nodes)))
    if report.extensions is not None:
        members.append(("extensions", _EXTENSIONS.dump_json(report.extensions, by_alias=True)))
    return content_report_id(close_with(head, members))


def decode_report(
    body: bytes,
    *,
    received_at_header: object = None,
    content_encoding: str | None = None,
    max_row_bytes: int = MAX_ROW_BYTES,
    max_report_bytes: int = MAX_REPORT_BYTES,
) -> Row:
    """Validate a message body as a ``StoredReport`` and render its table rows.

    ``received_at_header`` (``x-spartakus-received-at``) fills ``receivedAt``
    when the body lacks it, and is the reference time for a missing timestamp.
    ``content_encoding`` is the message's property: gzip bodies are inflated,
    up to ``max_report_bytes``.

    Raises:
        UndecodableMessageError: the body is not JSON, not a valid stored report, or too large to read.
    """
    if len(body) > max_report_bytes:
        raise UndecodableMessageError(f"report too large to read: {len(body):,} bytes, over {max_report_bytes:,}")
    try:
        text = decode_body(body, content_encoding, limit=max_report_bytes)
    except MessageEncodingError as e:
        raise UndecodableMessageError(f"undecodable report: {e}") from e
    received_at = _received_at(received_at_header) or datetime.now(UTC)
    fields = _fields(text)
    del text
    raw_nodes = fields.pop("nodes", None)
    report = _head(fields, received_at)
    nodes = _rendered_nodes(raw_nodes)
    updates: dict[str, Any] = {"nodes": None}
    if "reportID" not in fields:
        updates["report_id"] = _content_id(report, nodes)
    del raw_nodes, fields
    if report.received_at is None:
        updates["received_at"] = received_at
    report = report.model_copy(update=updates)
    head = report.model_dump_json(by_alias=True, exclude_none=True).encode()
    return _assemble(head, nodes, report.id, max_row_bytes)
