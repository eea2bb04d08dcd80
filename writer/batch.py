"""Batching and settlement bookkeeping, free of any client library.

A batch closes on the first of: a row count, a byte size (what its rows take
in BigQuery insertAll requests, which also bounds memory), or an age. ``AckTracker`` turns the
delivery tags of a written batch into as few acks as possible: one
``multiple`` ack when no other unsettled delivery hides below the batch's
highest tag, single acks otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from writer.rows import Row

T = TypeVar("T")

DEFAULT_BATCH_MAX_BYTES: Final = 9_000_000
"""Bytes a batch's rows take in insertAll requests, as the BigQuery client encodes them: about one request's worth.
A report larger than this alone makes a batch of its own."""


def row_bytes(row: Row) -> int:
    """Bytes ``row`` (all its parts) adds to insertAll requests, at most."""
    return row.nbytes


@dataclass(slots=True)
class Batch(Generic[T]):
    """Rows and the deliveries they came from, in delivery order."""

    opened_at: float
    deliveries: list[T] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    nbytes: int = 0

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, delivery: T, row: Row) -> None:
        """Append one delivery and its row."""
        self.deliveries.append(delivery)
        self.rows.append(row)
        self.nbytes += row_bytes(row)


class Batcher(Generic[T]):
    """Collects rows into batches closed by count, bytes or age."""

    def __init__(
        self,
        *,
        max_rows: int,
        max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
        max_wait: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rows < 1 or max_bytes < 1 or max_wait < 0:
            raise ValueError("max_rows and max_bytes must be positive and max_wait not negative")
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._max_wait = max_wait
        self._clock = clock
        self._current: Batch[T] | None = None

    @property
    def pending(self) -> int:
        """Rows in the batch being filled."""
        return len(self._current) if self._current else 0

    def add(self, delivery: T, row: Row) -> list[Batch[T]]:
        """Add a row; returns the batches this closed (none, one, or two when a big row follows a full one)."""
        closed: list[Batch[T]] = []
        current = self._current
        if current is not None and current.nbytes + row_bytes(row) > self._max_bytes:
            closed.append(current)
            current = None
        if current is None:
            current = Batch(opened_at=self._clock())
        current.add(delivery, row)
        self._current = current
        if len(current) >= self._max_rows or current.nbytes >= self._max_bytes:
            closed.append(current)
            self._current = None
        return closed

    def deadline(self) -> float | None:
        """When the batch being filled must close by age (clock time), or None when empty."""
        return None if self._current is None else self._current.opened_at + self._max_wait

    def due(self) -> Batch[T] | None:
        """Close and return the batch being filled if it is old enough."""
        deadline = self.deadline()
        if deadline is not None and self._clock() >= deadline:
            return self.flush()
        return None

    def flush(self) -> Batch[T] | None:
        """Close and return the batch being filled, whatever its age."""
        batch, self._current = self._current, None
        return batch


class AckTracker:
    """The unsettled delivery tags of one channel, in delivery order."""

    def __init__(self) -> None:
        # A dict keeps insertion order, and tags arrive in increasing order.
        self._unsettled: dict[int, None] = {}

    def __len__(self) -> int:
        return len(self._unsettled)

    def delivered(self, tag: int) -> None:
        """Record a delivery that now awaits an ack or a nack."""
        self._unsettled[tag] = None

    def plan(self, tags: Iterable[int]) -> list[tuple[int, bool]]:
        """Settle ``tags``: returns ``(tag, multiple)`` pairs for basic.ack/basic.nack.

        Raises:
            ValueError: a tag is unknown or already settled (a second ack would close the channel).
        """
        wanted = set(tags)
        if not wanted:
            return []
        if not wanted.issubset(self._unsettled):
            raise ValueError(f"delivery tags not awaiting settlement: {sorted(wanted - self._unsettled.keys())[:5]}")
        top = max(wanted)
        below = 0
        for tag in self._unsettled:
            if tag > top:
                break
            below += 1
        for tag in wanted:
            del self._unsettled[tag]
        if len(wanted) > 1 and below == len(wanted):
            return [(top, True)]
        return [(tag, False) for tag in sorted(wanted)]
