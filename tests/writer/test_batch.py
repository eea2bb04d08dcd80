"""Batches close on count, bytes or age; settled tags become as few acks as possible."""

from __future__ import annotations

import pytest

from writer.batch import AckTracker, Batcher, row_bytes
from writer.rows import Row


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def row(size: int = 10, report_id: str = "r") -> Row:
    return Row(report_id=report_id, payloads=(b"x" * size,), sizes=(size,))


def test_batch_closes_at_the_row_count() -> None:
    batcher: Batcher[int] = Batcher(max_rows=3, max_wait=60)
    closed = [batch for tag in range(7) for batch in batcher.add(tag, row())]
    assert [batch.deliveries for batch in closed] == [[0, 1, 2], [3, 4, 5]]
    assert batcher.pending == 1


def test_batch_closes_before_a_row_would_push_it_over_the_byte_limit() -> None:
    limit = 3 * row_bytes(row(100))
    batcher: Batcher[int] = Batcher(max_rows=500, max_bytes=limit, max_wait=60)
    closed = [batch for tag in range(5) for batch in batcher.add(tag, row(100 if tag != 2 else 150))]
    # 0 and 1 leave no room for the bigger 2; 2 and 3 leave none for 4.
    assert [batch.deliveries for batch in closed] == [[0, 1], [2, 3]]
    assert all(batch.nbytes <= limit for batch in closed)
    flushed = batcher.flush()
    assert flushed is not None
    assert flushed.deliveries == [4]


def test_a_row_larger_than_the_byte_limit_travels_alone() -> None:
    batcher: Batcher[int] = Batcher(max_rows=500, max_bytes=1000, max_wait=60)
    assert batcher.add(0, row(10)) == []
    closed = batcher.add(1, row(5000))
    assert [batch.deliveries for batch in closed] == [[0], [1]]
    assert batcher.pending == 0


def test_batch_closes_by_age_from_its_first_row() -> None:
    clock = Clock()
    batcher: Batcher[int] = Batcher(max_rows=500, max_wait=1.0, clock=clock)
    assert batcher.due() is None
    batcher.add(0, row())
    clock.now += 0.6
    batcher.add(1, row())
    assert batcher.deadline() == pytest.approx(101.0)
    clock.now += 0.3
    assert batcher.due() is None
    clock.now += 0.2
    batch = batcher.due()
    assert batch is not None
    assert batch.deliveries == [0, 1]
    assert batcher.deadline() is None


def test_contiguous_tags_settle_with_one_multiple_ack() -> None:
    tracker = AckTracker()
    for tag in range(1, 11):
        tracker.delivered(tag)
    assert tracker.plan(range(1, 6)) == [(5, True)]
    assert tracker.plan([6]) == [(6, False)]
    assert len(tracker) == 4


def test_tags_with_an_unsettled_one_below_are_acked_one_by_one() -> None:
    tracker = AckTracker()
    for tag in range(1, 6):
        tracker.delivered(tag)
    # Tag 2 is still being dead-lettered: a multiple ack of 4 would settle it too.
    assert tracker.plan([1, 3, 4]) == [(1, False), (3, False), (4, False)]
    assert tracker.plan([2, 5]) == [(5, True)]
    assert len(tracker) == 0


def test_settling_a_tag_twice_is_refused() -> None:
    tracker = AckTracker()
    tracker.delivered(1)
    tracker.plan([1])
    with pytest.raises(ValueError, match="not awaiting settlement"):
        tracker.plan([1])
