"""Finding a report's list members in its bytes, so that a large report is validated a slice at a time.

Parsing a whole 50 MB report builds some 200 MB of parse tree before a
single node is checked, and Python objects for all of it take 300 MB.
Nearly all of a large report is its ``nodes`` (and, rarely, ``extensions``)
list, so ``split_members`` locates each element of those lists with regular
expressions running in native code, without building anything; the caller
validates the elements in slices of a few hundred kilobytes and the rest of
the report as an ordinary small document.

The expressions only need to find where each value ends: brackets balanced
(any kind), strings with their escapes skipped. They do not check the JSON:
every slice and the rest of the report are parsed strictly afterwards, and
the glue between slices (commas and JSON whitespace) is matched exactly
here. So the whole document is accepted only if it is strict JSON; a
document the expressions cannot follow (nesting deeper than ``MAX_DEPTH``
inside a member, a key spelled with escapes, a repeated list key, broken
syntax) gets ``None``, and the caller validates it whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

MAX_DEPTH: Final = 8
"""Nesting followed inside one top-level value or list element; a real node nests 3 deep."""
LIST_MEMBERS: Final = (b'"nodes"', b'"extensions"')
"""Top-level keys whose array values are split into elements, as their JSON text appears on the wire."""

_WS: Final = rb"[ \t\n\r]*+"
_STRING: Final = rb'"(?:[^"\\]++|\\.)*+"'


def _balanced(depth: int) -> bytes:
    """What may appear inside a container nested at most ``depth`` more levels."""
    inner = rb"(?:[^\"{}\[\]]++|" + _STRING + rb")"
    for _ in range(depth):
        inner = rb"(?:[^\"{}\[\]]++|" + _STRING + rb"|[\[{]" + inner + rb"*+[\]}])"
    return inner


_VALUE: Final = rb"(?:" + _STRING + rb"|[\[{]" + _balanced(MAX_DEPTH) + rb"*+[\]}]|[^\"{}\[\], \t\n\r]++)"
_OPEN: Final = re.compile(_WS + rb"\{" + _WS, re.DOTALL)
_KEY: Final = re.compile(rb"(" + _STRING + rb")" + _WS + rb":" + _WS, re.DOTALL)
_MEMBER_END: Final = re.compile(_WS + rb"([,}])" + _WS, re.DOTALL)
_ELEMENT: Final = re.compile(rb"(" + _VALUE + rb")" + _WS + rb"([,\]])" + _WS, re.DOTALL)
_VALUE_RE: Final = re.compile(_VALUE, re.DOTALL)
_LIST_START: Final = re.compile(rb"\[" + _WS + rb"(\]?)", re.DOTALL)
_END: Final = re.compile(_WS)


@dataclass(slots=True)
class ListMember:
    """One top-level list found in the document: where it sits, and where each of its elements sits."""

    key: str
    start: int
    """Offset of the ``[``."""
    end: int
    """Offset just past the ``]``."""
    slices: list[tuple[int, int, int]] = field(default_factory=list)
    """Runs of consecutive elements, each about ``slice_bytes`` long: offsets ``[start, end)`` and the first index."""


@dataclass(slots=True)
class Layout:
    """The document's list members, and the rest of it with those lists emptied (``[]``)."""

    members: list[ListMember]
    rest: bytes


def split_members(document: bytes | bytearray, *, slice_bytes: int, max_elements: int) -> Layout | None:
    """Locate the elements of the top-level ``nodes`` and ``extensions`` lists.

    Returns None when the document is not a shape this can follow (see the
    module docstring); the caller then validates it whole.

    Raises:
        TooManyElementsError: a list holds more than ``max_elements`` elements.
    """
    try:
        members = _members(document, slice_bytes, max_elements)
    except _CannotFollowError:
        return None
    return Layout(members, _without_lists(document, members))


class _CannotFollowError(Exception):
    """The document is not a shape the expressions can follow."""


def _expect(pattern: re.Pattern[bytes], document: bytes | bytearray, pos: int) -> re.Match[bytes]:
    found = pattern.match(document, pos)
    if found is None:
        raise _CannotFollowError
    return found


def _members(document: bytes | bytearray, slice_bytes: int, max_elements: int) -> list[ListMember]:
    pos = _expect(_OPEN, document, 0).end()
    members: list[ListMember] = []
    seen: set[bytes] = set()
    closed = document[pos : pos + 1] == b"}"
    if closed:
        pos += 1
    while not closed:
        key = _expect(_KEY, document, pos)
        name = key.group(1)
        if b"\\" in name or name in seen:
            raise _CannotFollowError  # an escaped or repeated key: which value counts is the parser's call
        seen.add(name)
        pos = key.end()
        if name in LIST_MEMBERS and document[pos : pos + 1] == b"[":
            member = _split_list(document, pos, name[1:-1].decode(), slice_bytes, max_elements)
            members.append(member)
            pos = member.end
        else:
            pos = _expect(_VALUE_RE, document, pos).end()
        end = _expect(_MEMBER_END, document, pos)
        pos, closed = end.end(), end.group(1) == b"}"
    if _expect(_END, document, pos).end() != len(document):
        raise _CannotFollowError
    return members


class TooManyElementsError(ValueError):
    """A top-level list holds more elements than allowed."""

    def __init__(self, key: str, limit: int) -> None:
        super().__init__(f"the report's {key} list holds more than {limit} entries")
        self.key = key
        self.limit = limit


def _split_list(document: bytes | bytearray, pos: int, key: str, slice_bytes: int, max_elements: int) -> ListMember:
    start = _expect(_LIST_START, document, pos)
    member = ListMember(key, pos, start.end())
    if start.group(1):  # an empty list
        return member
    pos = start.end()
    match, slices = _ELEMENT.match, member.slices
    count, first, slice_start = 0, 0, pos
    while True:
        element = match(document, pos)
        if element is None:
            raise _CannotFollowError
        count += 1
        if count > max_elements:
            raise TooManyElementsError(key, max_elements)
        pos = element.end()
        last = element.group(2) == b"]"
        if last or element.end(1) - slice_start >= slice_bytes:
            slices.append((slice_start, element.end(1), first))
            first, slice_start = count, pos
        if last:
            member.end = element.end(2)
            return member


def _without_lists(document: bytes | bytearray, members: list[ListMember]) -> bytes:
    parts: list[bytes | bytearray] = []
    pos = 0
    for member in members:
        parts += [document[pos : member.start], b"[]"]
        pos = member.end
    parts.append(document[pos:])
    return b"".join(parts)
