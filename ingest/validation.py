"""From request body to the normalised report the gateway publishes, or a 400/413/422 saying why not.

Two passes over the bytes, both in native code, cost about two thirds of
parsing into Python objects and validating those:

1. orjson checks that the body is strict JSON: valid UTF-8 without a BOM,
   RFC 8259 syntax, no NaN or Infinity, no lone UTF-16 surrogate escape, no
   number beyond a double's range, nesting at most 1,024 deep. Its result
   also tells whether the top level is an object.
2. The ``schema`` models validate straight from the bytes
   (``model_validate_json``; pydantic's parser also stops nesting at 200).

A small document (at most ``FAST_MAX_CONTAINERS`` objects and arrays, so
nested far less than 200 deep, and no run of 19 digits, so every integer in it
fits in 64 bits, where orjson and pydantic's parser read numbers alike) skips
the second parse: the models validate the Python values orjson returned
(``schema.report.report_from_json_value``). The result is the same; a document
it refuses is validated again from the bytes, whose errors name JSON types.

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

A document over ``SLICED_ABOVE`` bytes goes through the same two passes a
slice at a time (``ingest.slices`` finds the slices): its ``nodes`` and
``extensions`` lists in runs of ``SLICE_BYTES``, each parsed, validated,
normalised and handed to the compressor before the next, and the rest of the
report as one small document. The published body is the same normalised
report either way; only its memory differs, a few megabytes above the
document itself instead of ten times its size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final

import orjson
from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import PydanticSerializationError

from ingest.errors import RequestError, clip, detail
from ingest.ports import Envelope
from ingest.slices import Layout, ListMember, TooManyElementsError, split_members
from schema.message import MAX_MESSAGE_BYTES, MessageTooLargeError, encode_body
from schema.report import REPORT_ID_PREFIX, Extension, Node, Report, dump_report, parse_report, report_from_json_value
from schema.signature import SignatureRefusedError, verify_report
from schema.splice import array_items, close_with, fill_arrays

MAX_DETAILS: Final = 20
"""Most schema violations listed in one 422; the count of the rest is given."""
MAX_CONTAINERS: Final = 2_000_000
"""Most objects plus arrays in one document, counted as ``{`` and ``[`` bytes (strings included) before parsing.

It bounds the CPU a document costs (some 2 µs per object). A real report of
65,000 nodes with a dozen capacity entries each holds some 910,000 objects;
a 100,000-node cluster some 1.4 million.
"""
MAX_LIST_ENTRIES: Final = 200_000
"""Most nodes (or extensions) in one report: three times the largest clusters on offer.

A body of a million minimal nodes (``{"id":"a"}``, 11 MB, 21 KB gzipped) is
refused once 200,001 have been counted, in a fraction of a second.
"""
SLICED_ABOVE: Final = 256 * 1024
"""Documents larger than this are validated a slice at a time."""
SLICE_BYTES: Final = 256 * 1024
"""Target size of one slice of a list; validating one costs a few megabytes at most."""
WHOLE_COST_PER_BYTE: Final = 10
WHOLE_COST_PER_CONTAINER: Final = 800
"""Memory validating a document whole costs: per byte and per object or array (measured: 700 bytes each)."""
SLICED_COST: Final = 8 * 1024 * 1024
"""Memory validating one slice, plus the bookkeeping of the slices, costs at most."""
FAST_MAX_CONTAINERS: Final = 128
"""Documents with at most this many objects and arrays may be validated from orjson's values (module docstring)."""

Reserve = Callable[[int], None]
"""Called with the bytes of memory validation is about to take; raises if the gateway cannot afford it."""

_JSON_BOOL: Final = {True: b"true", False: b"false"}
_DIGITS_AS_9: Final = bytes(ord("9") if ord("0") <= i <= ord("9") else ord(" ") for i in range(256))
_LONG_NUMBER: Final = b"9" * 19
"""In a document whose digits were all made 9 (``_DIGITS_AS_9``): a run of digits that may exceed 64 bits."""
_NOT_AN_OBJECT: Final = {"field": "$", "message": "the report must be a JSON object", "type": "model_type"}


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid report, normalised and ready to publish."""

    report_id: str
    envelope: Envelope
    cluster_id: str
    verified: bool


def accept_report(
    document: bytes | bytearray,
    *,
    received_at: datetime,
    reserve: Reserve = lambda _cost: None,
    signature: bytes | None = None,
    containers: int | None = None,
) -> Accepted:
    """Check and validate ``document``; the stored body carries ``received_at`` as ``receivedAt``.

    ``reserve`` is told the memory validation will take before it is taken.
    ``signature`` is the ``X-Spartakus-Signature`` header, checked against
    the report's cluster id over ``document`` as received (see ``schema.signature``).
    ``containers`` is the count of ``{`` and ``[`` bytes in ``document``, if the caller has it.

    The report id is derived from the normalised report (``schema.report.content_report_id``);
    a ``reportID`` the client sent is checked for shape and otherwise ignored, so that no
    sender can name, and so replace, another report.

    Raises:
        RequestError: 400 when the body is not strict JSON, 413 over ``MAX_CONTAINERS``, 422 when it breaks the
        schema, 401/403/400 when the signature does not prove a self-certifying cluster id.
    """
    if containers is None:
        containers = document.count(b"{") + document.count(b"[")
    if containers > MAX_CONTAINERS:
        raise _too_large(f"the report holds more than {MAX_CONTAINERS} JSON objects and arrays")
    layout = None
    if len(document) > SLICED_ABOVE:
        try:
            layout = split_members(document, slice_bytes=SLICE_BYTES, max_elements=MAX_LIST_ENTRIES)
        except TooManyElementsError as e:
            raise _too_large(str(e)) from e
    if layout is None:
        reserve(whole_cost(document, containers))
        report = _validate_whole(document, received_at, containers)
    else:
        rest_containers = layout.rest.count(b"{") + layout.rest.count(b"[")
        reserve(SLICED_COST + min(len(document), MAX_MESSAGE_BYTES) + whole_cost(layout.rest, rest_containers))
        report = _validate_whole(layout.rest, received_at, rest_containers)
    try:
        verified = verify_report(report.cluster_id, signature, document)
    except SignatureRefusedError as e:
        raise RequestError(e.status, "signature refused", [detail(e.reason)]) from e
    stamp = received_at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    stamped = _Stamped(stamp, verified)
    wire = _dump(report)
    pieces = stamped.pieces([wire] if layout is None else _sliced_pieces(document, layout, wire))
    try:
        encoded = encode_body(pieces)
    except MessageTooLargeError as e:
        raise _too_large(f"the normalised report exceeds {MAX_MESSAGE_BYTES} bytes even gzip-compressed") from e
    envelope = Envelope(
        body=encoded.body,
        message_id=stamped.report_id,
        received_at=stamp,
        timestamp=int(received_at.timestamp()),
        content_encoding=encoded.content_encoding,
    )
    return Accepted(report_id=stamped.report_id, envelope=envelope, cluster_id=report.cluster_id, verified=verified)


class _Stamped:
    """The normalised wire report's pieces, hashed as they pass, closed with what the collector adds.

    The pieces, joined, are the wire report without ``reportID``; their hash
    is the report id, and the last piece's closing brace becomes
    ``,"reportID":...,"receivedAt":...,"verified":...}``. A small report is one
    piece and stays a one-piece list, which ``encode_body`` passes through as is.
    """

    def __init__(self, received_at: str, verified: bool) -> None:
        self._hash = hashlib.sha256()
        self._received_at = received_at
        self._verified = verified
        self.report_id = ""

    def pieces(self, wire: list[bytes] | Iterator[bytes]) -> list[bytes] | Iterator[bytes]:
        if isinstance(wire, list):
            return [self._close(wire[0])]
        return self._stream(wire)

    def _stream(self, wire: Iterable[bytes]) -> Iterator[bytes]:
        held: bytes | None = None
        for piece in wire:
            if held is not None:
                self._hash.update(held)
                yield held
            held = piece
        if held is not None:
            yield self._close(held)

    def _close(self, last: bytes) -> bytes:
        self._hash.update(last)
        self.report_id = REPORT_ID_PREFIX + self._hash.hexdigest()
        # The id is hex and the stamp an ISO time the gateway made: neither needs escaping.
        stamps = [
            ("reportID", b'"%s"' % self.report_id.encode()),
            ("receivedAt", b'"%s"' % self._received_at.encode()),
            ("verified", _JSON_BOOL[self._verified]),
        ]
        return close_with(last, stamps)


def whole_cost(document: bytes | bytearray, containers: int | None = None) -> int:
    """Memory that validating ``document`` in one piece may take, in bytes."""
    if containers is None:
        containers = document.count(b"{") + document.count(b"[")
    return len(document) * WHOLE_COST_PER_BYTE + containers * WHOLE_COST_PER_CONTAINER


def _validate_whole(document: bytes | bytearray, received_at: datetime, containers: int) -> Report:
    """The wire report; it ignores a ``receivedAt`` the client sent: ``_Stamped`` adds the gateway's."""
    value = check_strict(document)
    if not isinstance(value, dict):
        raise RequestError(422, "invalid report", [dict(_NOT_AN_OBJECT)])
    if containers <= FAST_MAX_CONTAINERS and _LONG_NUMBER not in document.translate(_DIGITS_AS_9):
        try:
            return report_from_json_value(value, received_at=received_at, defer_report_id=True)
        except ValidationError:
            pass  # refused: validated again below, for the errors in JSON's terms
    del value
    try:
        # An empty or implausible timestamp becomes the receive time.
        return parse_report(document, received_at=received_at, defer_report_id=True)
    except ValidationError as e:
        raise _refusal(e) from e
    except RecursionError as e:
        raise RequestError(400, "invalid JSON", [detail("nesting too deep")]) from e


def _dump(report: Report) -> bytes:
    """The normalised wire report, without ``reportID``: what the report id is derived from."""
    try:
        return dump_report(report, with_id=False)
    except PydanticSerializationError as e:  # orjson refuses lone surrogates; this stays as a safety net
        raise RequestError(400, "invalid JSON", [detail("a string holds a lone UTF-16 surrogate escape")]) from e


_ADAPTERS: Final[dict[str, TypeAdapter[list[Node]] | TypeAdapter[list[Extension]]]] = {
    "nodes": TypeAdapter(Annotated[list[Node], Field(fail_fast=True)]),
    "extensions": TypeAdapter(Annotated[list[Extension], Field(fail_fast=True)]),
}


def _sliced_pieces(document: bytes | bytearray, layout: Layout, head: bytes) -> Iterator[bytes]:
    """The normalised report: ``head`` (the rest, normalised) with each list's slices validated and put back."""
    # The dump orders fields as the model does, whatever order the sender used: the lists go where it put them.
    return fill_arrays(head, {member.key: _slice_runs(document, member) for member in layout.members})


def _slice_runs(document: bytes | bytearray, member: ListMember) -> Iterator[bytes]:
    """The normalised elements of each slice of ``member``, comma-separated, one slice at a time."""
    adapter = _ADAPTERS[member.key]
    for start, end, first in member.slices:
        text = b"[" + document[start:end] + b"]"
        try:
            check_strict(text)
            items = adapter.validate_json(text)
            normalised = adapter.dump_json(items, by_alias=True, exclude_none=True)  # type: ignore[arg-type]  # the adapter's own output
        except ValidationError as e:
            raise _refusal(e, (member.key, first)) from e
        except PydanticSerializationError as e:
            raise RequestError(400, "invalid JSON", [detail("a string holds a lone UTF-16 surrogate escape")]) from e
        except RequestError as e:
            raise RequestError(400, "invalid JSON", [detail(f"in {member.key}[{first}...]: {_first(e)}")]) from e
        del items, text
        yield array_items(normalised)


def _first(error: RequestError) -> str:
    return str(error.details[0]["message"]) if error.details else error.error


def _too_large(why: str) -> RequestError:
    return RequestError(413, "report too large", [detail(why)])


def check_strict(document: bytes | bytearray) -> object:
    """``document`` parsed by orjson, or a 400 for anything but strict JSON (see the module docstring).

    Raises:
        RequestError: 400 with the reason and where in the body it is.
    """
    try:
        return orjson.loads(document)
    except orjson.JSONDecodeError as e:
        raise RequestError(400, "invalid JSON", [detail(_explain(document, e))]) from e


def _explain(document: bytes | bytearray, error: orjson.JSONDecodeError) -> str:
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


def _refusal(error: ValidationError, within: tuple[str, int] | None = None) -> RequestError:
    """A 400 or 422 for ``error``; ``within`` names the list and index of a slice's first element."""
    problems = error.errors(include_url=False, include_context=False)
    if problems and problems[0]["type"] == "json_invalid":
        # What orjson let through and pydantic's parser did not: nesting between 200 and 1,024 deep.
        return RequestError(400, "invalid JSON", [detail(clip(problems[0]["msg"]))])
    return RequestError(422, "invalid report", _violations(error, within))


def _violations(error: ValidationError, within: tuple[str, int] | None = None) -> list[dict[str, object]]:
    details: list[dict[str, object]] = []
    for item in error.errors(include_url=False, include_context=False)[:MAX_DETAILS]:
        loc = item["loc"]
        if within is not None and loc and isinstance(loc[0], int):
            loc = (within[0], within[1] + loc[0], *loc[1:])
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
