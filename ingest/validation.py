"""From request body to the normalised report the gateway publishes, or a 400/413/422 saying why not.

Two passes over the bytes, both in native code, cost about two thirds of
parsing into Python objects and validating those:

1. orjson checks that the body is strict JSON: valid UTF-8 without a BOM,
   RFC 8259 syntax, no NaN or Infinity, no lone UTF-16 surrogate escape, no
   number beyond a double's range, nesting at most 1,024 deep. Its result
   also tells whether the top level is an object.
2. The ``schema`` models validate straight from the bytes
   (``model_validate_json``; pydantic's parser also stops nesting at 200).

A duplicate key is not refused: the last one wins, as in the original Go
collector (encoding/json) and pydantic. Only the normalised body the gateway
builds is ever stored or read downstream, so no second parser can read the
same report differently. Detecting duplicates (jiter's ``catch_duplicate_keys``,
or the standard library's parser with a pairs hook) would cost about as much
as everything else here together.

Validation stops at the first bad entry of each list (the schema's
``fail_fast``), and a body with more than ``MAX_CONTAINERS`` objects and arrays
is refused before any parsing: memory per parsed object, not bytes, is what a
document costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

import orjson
from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from ingest.errors import RequestError, clip, detail
from ingest.ports import Envelope
from schema.report import StoredReport, dump_report, parse_report

MAX_DETAILS: Final = 20
"""Most schema violations listed in one 422; the count of the rest is given."""
MAX_CONTAINERS: Final = 1_000_000
"""Most objects plus arrays in one document, counted as ``{`` and ``[`` bytes (strings included) before parsing.

32 MiB of minimal nodes (``{"id":"a"}``, three million of them) took 2.1 GB
and 24 s of CPU to validate. A real report of 65,000 nodes holds some 600,000
objects (the nodes and their capacity entries), well within this cap; at the
cap, a body costs at most about 700 MB.
"""

_NOT_AN_OBJECT: Final = {"field": "$", "message": "the report must be a JSON object", "type": "model_type"}


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid report, normalised and ready to publish."""

    report_id: str
    envelope: Envelope


def accept_report(document: bytes, *, received_at: datetime) -> Accepted:
    """Check and validate ``document``; the stored body carries ``received_at`` as ``receivedAt``.

    Raises:
        RequestError: 400 when the body is not strict JSON, 413 over ``MAX_CONTAINERS``, 422 when it breaks the schema.
    """
    containers = document.count(b"{") + document.count(b"[")
    if containers > MAX_CONTAINERS:
        raise RequestError(
            413, "report too large", [detail(f"the report holds more than {MAX_CONTAINERS} JSON objects and arrays")]
        )
    if not isinstance(check_strict(document), dict):
        raise RequestError(422, "invalid report", [dict(_NOT_AN_OBJECT)])
    try:
        # An empty or implausible timestamp becomes the receive time.
        wire = parse_report(document, received_at=received_at)
        # The wire model ignores a receivedAt sent by the client: the gateway's clock is the one stored.
        report = StoredReport.model_construct(
            wire.model_fields_set | {"received_at"}, **wire.__dict__, received_at=received_at
        )
        body = dump_report(report)
    except ValidationError as e:
        raise _refusal(e) from e
    except PydanticSerializationError as e:  # orjson refuses lone surrogates; this stays as a safety net
        raise RequestError(400, "invalid JSON", [detail("a string holds a lone UTF-16 surrogate escape")]) from e
    except RecursionError as e:
        raise RequestError(400, "invalid JSON", [detail("nesting too deep")]) from e
    stamp = received_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    envelope = Envelope(body=body, message_id=report.id, received_at=stamp, timestamp=int(received_at.timestamp()))
    return Accepted(report_id=report.id, envelope=envelope)


def check_strict(document: bytes) -> object:
    """``document`` parsed by orjson, or a 400 for anything but strict JSON (see the module docstring).

    Raises:
        RequestError: 400 with the reason and where in the body it is.
    """
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError as e:
        raise RequestError(400, "invalid JSON", [detail(_explain(document, e))]) from e


def _explain(document: bytes, error: orjson.JSONDecodeError) -> str:
    message = clip(str(error))
    if message.startswith("str is not valid UTF-8"):
        # orjson names neither the byte nor the problem; decoding again (only on this path) does.
        try:
            document.decode("utf-8")
        except UnicodeDecodeError as e:
            return f"invalid UTF-8 at byte {e.start}"
    if message.startswith("number is infinity"):
        return f"number out of range: {message}"
    return message


def _refusal(error: ValidationError) -> RequestError:
    problems = error.errors(include_url=False, include_context=False)
    if problems and problems[0]["type"] == "json_invalid":
        # What orjson let through and pydantic's parser did not: nesting between 200 and 1,024 deep.
        return RequestError(400, "invalid JSON", [detail(clip(problems[0]["msg"]))])
    return RequestError(422, "invalid report", _violations(error))


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
