"""Delivery-tag bookkeeping of one confirm-mode channel (unit tests)."""

from __future__ import annotations

import asyncio

import pytest

from ingest.confirms import ConfirmTracker
from ingest.ports import (
    BrokerUnavailableError,
    ConfirmTimeoutError,
    PublishError,
    PublishNackedError,
    PublishReturnedError,
)


def outcome(future: asyncio.Future[None]) -> str | type[BaseException]:
    if not future.done():
        return "waiting"
    error = future.exception()
    return "acked" if error is None else type(error)


def run(scenario: object) -> None:
    asyncio.run(scenario)  # type: ignore[arg-type]


def test_each_publish_is_settled_by_the_confirm_of_its_own_tag() -> None:
    async def scenario() -> None:
        tracker = ConfirmTracker("q")
        futures = [tracker.track(f"m{i}", deadline=100.0)[1] for i in range(3)]
        tracker.confirm(2, multiple=False, acked=True)
        tracker.confirm(3, multiple=False, acked=False)
        assert [outcome(f) for f in futures] == ["waiting", "acked", PublishNackedError]

    run(scenario())


def test_a_multiple_ack_settles_every_earlier_tag_once() -> None:
    async def scenario() -> None:
        tracker = ConfirmTracker("q")
        futures = [tracker.track(f"m{i}", deadline=100.0)[1] for i in range(5)]
        tracker.confirm(2, multiple=False, acked=True)
        tracker.confirm(4, multiple=True, acked=True)
        tracker.confirm(4, multiple=True, acked=False)  # a repeat must not overturn the ack
        assert [outcome(f) for f in futures] == ["acked"] * 4 + ["waiting"]
        tracker.confirm(5, multiple=True, acked=False)
        assert outcome(futures[4]) is PublishNackedError

    run(scenario())


def test_a_returned_message_fails_when_its_ack_arrives() -> None:
    async def scenario() -> None:
        tracker = ConfirmTracker("q")
        first = tracker.track("same-id", deadline=100.0)[1]
        second = tracker.track("same-id", deadline=100.0)[1]
        tracker.returned("same-id")
        tracker.confirm(2, multiple=True, acked=True)
        assert (outcome(first), outcome(second)) == (PublishReturnedError, "acked")

    run(scenario())


def test_overdue_publishes_time_out_and_later_ones_keep_waiting() -> None:
    async def scenario() -> None:
        tracker = ConfirmTracker("q")
        early = tracker.track("a", deadline=1.0)[1]
        confirmed = tracker.track("b", deadline=2.0)[1]
        late = tracker.track("c", deadline=3.0)[1]
        tracker.confirm(2, multiple=False, acked=True)
        assert tracker.expire(2.5) == 1
        assert [outcome(f) for f in (early, confirmed, late)] == [ConfirmTimeoutError, "acked", "waiting"]

    run(scenario())


@pytest.mark.parametrize("error", [BrokerUnavailableError("gone"), PublishNackedError("no")])
def test_fail_all_settles_every_waiting_publish_and_forget_empties_the_tracker(error: PublishError) -> None:
    async def scenario() -> None:
        tracker = ConfirmTracker("q")
        tracked = [tracker.track(f"m{i}", deadline=100.0) for i in range(3)]
        tracker.confirm(1, multiple=False, acked=True)
        tracker.fail_all(error)
        assert [outcome(f) for _tag, f in tracked] == ["acked", type(error), type(error)]
        assert not tracker.empty.is_set()
        for tag, _future in tracked:
            tracker.forget(tag)
        assert len(tracker) == 0
        assert tracker.empty.is_set()

    run(scenario())
