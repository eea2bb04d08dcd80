"""Joining a report from pieces already serialised as compact JSON: the one rule for splicing reports.

The volunteer builds a report from its envelope and pages of nodes; the
gateway puts a large report's validated slices back into the rest of it and
closes the report with what the collector adds; the writer spreads a report's
nodes over rows and derives a report's content id from its parts. Each holds
pieces that are compact JSON already (a pydantic dump), and re-serialising
them would cost as much as the work itself: these functions join the bytes.

A piece is never parsed here. Keys are written as given, so they must need
no escaping (the report's wire names do not); values must be compact JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

Value = bytes | list[bytes]
"""A member's value: its JSON bytes, or pieces that join to them (``array_pieces``)."""

_EMPTY_OBJECT = b"{}"


def array_items(array: bytes) -> bytes:
    """The elements of a compact JSON array, comma-separated, without its brackets: ``[1,2]`` gives ``1,2``."""
    return array[1:-1]


def array_pieces(runs: Iterable[bytes]) -> list[bytes]:
    """The pieces of the JSON array whose elements come in ``runs``, each one or more elements (``array_items``).

    An empty run adds nothing; the pieces are not joined, so that the caller joins the whole report once.
    """
    pieces = [b"["]
    for run in runs:
        if run:
            if len(pieces) > 1:
                pieces.append(b",")
            pieces.append(run)
    pieces.append(b"]")
    return pieces


def close_with(tail: bytes, members: Iterable[tuple[str, Value]]) -> bytes:
    """``tail``, the end of a compact JSON object (or all of it), with ``members`` added before its closing brace.

    The members come last, in the order given. ``tail`` may be the last piece
    of an object whose earlier pieces were written already; only ``{}`` itself
    is taken for an object without members. The result is joined once, however
    many pieces the values hold.
    """
    pieces = [tail[:-1]]
    separator = b'"' if tail == _EMPTY_OBJECT else b',"'
    for key, value in members:
        pieces += (separator, key.encode(), b'":')
        separator = b',"'
        if isinstance(value, bytes):
            pieces.append(value)
        else:
            pieces += value
    pieces.append(b"}")
    return b"".join(pieces)


def fill_arrays(whole: bytes, runs: Mapping[str, Iterable[bytes]]) -> Iterator[bytes]:
    """The pieces of ``whole``, a compact JSON object, with the empty array of each member ``key`` filled.

    ``runs[key]`` gives the elements of that member (``array_items``), in order.

    Each member named in ``runs`` must be in ``whole`` with the value ``[]``,
    as a dump writes an empty list, wherever it stands. Pieces are produced as
    the runs are, so a large report is never whole in memory.

    Raises:
        ValueError: a member named in ``runs`` is not an empty array of ``whole``.
    """
    places = sorted((whole.index(b'"' + key.encode() + b'":[]') + len(key) + 4, key) for key in runs)
    position = 0
    for at, key in places:
        yield whole[position:at]
        first = True
        for run in runs[key]:
            if run:
                if not first:
                    yield b","
                yield run
                first = False
        position = at
    yield whole[position:]
