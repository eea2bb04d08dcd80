"""Turning a queue message into a row: validate the stored report and render it as compact JSON once.

Every sink takes the same row: the report id (the dedup key) and the report
as compact JSON bytes. Keeping the JSON instead of the model keeps a batch
small in memory and lets DuckDB and stdout use the bytes as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import ValidationError

from schema.message import MessageEncodingError, decode_body
from schema.report import StoredReport
from writer.errors import UndecodableMessageError

_MAX_REASON_ERRORS = 3


@dataclass(frozen=True, slots=True)
class Row:
    """One report ready for a sink."""

    report_id: str
    payload: bytes
    """The stored report as compact JSON with wire (camelCase) names; empty fields left out."""


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


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:_MAX_REASON_ERRORS]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - _MAX_REASON_ERRORS
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def decode_report(body: bytes, *, received_at_header: object = None, content_encoding: str | None = None) -> Row:
    """Validate a message body as a ``StoredReport`` and render the row.

    ``received_at_header`` (``x-spartakus-received-at``) fills ``receivedAt``
    when the body lacks it, and is the reference time for a missing timestamp.
    A body with ``content_encoding`` gzip is inflated first.

    Raises:
        UndecodableMessageError: the body is not JSON or not a valid stored report, or cannot be inflated.
    """
    header_time = _received_at(received_at_header)
    context = {"received_at": header_time or datetime.now(UTC)}
    try:
        report = StoredReport.model_validate_json(decode_body(body, content_encoding), context=context)
    except MessageEncodingError as e:
        raise UndecodableMessageError(f"undecodable report: {e}") from e
    except ValidationError as e:
        raise UndecodableMessageError(f"undecodable report: {_explain(e)}") from e
    if report.received_at is None:
        report = report.model_copy(update={"received_at": context["received_at"]})
    return Row(report_id=report.id, payload=report.model_dump_json(by_alias=True, exclude_none=True).encode())
