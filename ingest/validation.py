"""From request body to the normalised report the gateway publishes, or a 400/422 saying why not.

The body is parsed once, strictly: valid UTF-8, RFC 8259 JSON, no NaN or
Infinity, no duplicate keys, no number that overflows. Lenient parsers keep the
last of two duplicate keys and some accept NaN, so two programs could read the
same hostile body differently; the gateway refuses it instead. The parsed
object is then validated with the ``schema`` models.

Validation stops at the first bad entry of each list (``fail_fast``): a body
of a million broken nodes would otherwise make a million error objects, about
350 bytes of memory per byte received.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import Field, ValidationError
from pydantic_core import PydanticSerializationError

from ingest.errors import RequestError, clip, detail
from ingest.ports import Envelope
from schema.report import Extension, Node, Resource, StoredReport, dump_report

MAX_DETAILS: Final = 20
"""Most schema violations listed in one 422; the count of the rest is given."""


class _GatewayNode(Node):
    capacity: Annotated[list[Resource] | None, Field(fail_fast=True)] = None


class GatewayReport(StoredReport):
    """``StoredReport`` that stops at the first bad entry of each list, to bound the cost of a hostile body."""

    nodes: Annotated[list[_GatewayNode] | None, Field(fail_fast=True)] = None  # type: ignore[assignment]  # a subtype of Node
    extensions: Annotated[list[Extension] | None, Field(fail_fast=True)] = None


class _HostileJsonError(ValueError):
    """Valid to a lenient parser, refused here: a duplicate key, NaN/Infinity, an infinite number."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    for key, _value in pairs:
        if key in seen:
            raise _HostileJsonError(f"duplicate key {clip(key)!r}")
        seen.add(key)
    raise AssertionError("unreachable: dict() dropped a key that is not a duplicate")


def _no_constant(name: str) -> Any:
    raise _HostileJsonError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in {float("inf"), float("-inf")}:
        raise _HostileJsonError(f"number out of range: {clip(text)}")
    return value


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_unique_keys, parse_constant=_no_constant, parse_float=_finite_float
)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid report, normalised and ready to publish."""

    report_id: str
    envelope: Envelope


def accept_report(document: bytes, *, received_at: datetime) -> Accepted:
    """Parse and validate ``document``; the stored body carries ``received_at`` as ``receivedAt``.

    Raises:
        RequestError: 400 when the body is not strict JSON, 422 when it breaks the schema.
    """
    obj = _parse_strict(document)
    if not isinstance(obj, dict):
        raise RequestError(
            422, "invalid report", [{"field": "$", "message": "the report must be a JSON object", "type": "model_type"}]
        )
    obj["receivedAt"] = received_at  # the gateway's clock, whatever the sender claims
    try:
        # schema.report reads the receive time from the validation context to
        # fill an empty or implausible timestamp, as parse_report does.
        report = GatewayReport.model_validate(obj, context={"received_at": received_at})
        body = dump_report(report)
    except ValidationError as e:
        raise RequestError(422, "invalid report", _violations(e)) from e
    except PydanticSerializationError as e:
        raise RequestError(400, "invalid JSON", [detail("a string holds a lone UTF-16 surrogate escape")]) from e
    except RecursionError as e:
        raise RequestError(400, "invalid JSON", [detail("nesting too deep")]) from e
    stamp = received_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    envelope = Envelope(body=body, message_id=report.id, received_at=stamp, timestamp=int(received_at.timestamp()))
    return Accepted(report_id=report.id, envelope=envelope)


def _parse_strict(document: bytes) -> Any:
    try:
        # Decoding first refuses what json.loads(bytes) would guess at: BOMs, UTF-16, UTF-32.
        return _DECODER.decode(document.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise RequestError(400, "invalid JSON", [detail(f"invalid UTF-8 at byte {e.start}")]) from e
    except json.JSONDecodeError as e:
        message = f"{e.msg} at line {e.lineno} column {e.colno}"
        raise RequestError(400, "invalid JSON", [detail(message)]) from e
    except RecursionError as e:
        raise RequestError(400, "invalid JSON", [detail("nesting too deep")]) from e
    except ValueError as e:
        # _HostileJsonError, or an integer past Python's digit limit.
        raise RequestError(400, "invalid JSON", [detail(clip(str(e)))]) from e


def _violations(error: ValidationError) -> list[dict[str, object]]:
    details: list[dict[str, object]] = []
    for item in error.errors(include_url=False, include_context=False)[:MAX_DETAILS]:
        loc = item["loc"]
        entry: dict[str, object] = {"field": _path(loc), "message": clip(item["msg"]), "type": item["type"]}
        if _is_extension_name(loc) and isinstance(item.get("input"), str):
            entry["extension"] = clip(item["input"])
        details.append(entry)
    hidden = error.error_count() - len(details)
    if hidden > 0:
        details.append({"field": "$", "message": f"{hidden} more problems not listed", "type": "truncated"})
    return details


def _path(loc: tuple[int | str, ...]) -> str:
    """A JSONPath-like field path: ``$.nodes[0].id``; ``$`` is the whole report."""
    return "$" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)


def _is_extension_name(loc: tuple[int | str, ...]) -> bool:
    # ("extensions", i, "name"): the key of one extension.
    return len(loc) == 3 and loc[0] == "extensions" and loc[2] == "name"
