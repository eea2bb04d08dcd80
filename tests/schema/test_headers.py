"""The headers a replayed or migrated message keeps: no broker history from either major version, a replay count."""

from __future__ import annotations

import pytest

from schema.headers import REPLAYS_HEADER, broker_set, dead_reason, moved_headers, replayed_headers
from schema.topology import ERROR_HEADER, RECEIVED_AT_HEADER

DEATH = {"reason": "delivery_limit", "queue": "q", "count": 1, "exchange": ""}
RABBITMQ_3_10 = {
    RECEIVED_AT_HEADER: "2026-12-07T10:00:00Z",
    "x-death": [DEATH],
    "x-first-death-exchange": "",
    "x-first-death-queue": "q",
    "x-first-death-reason": "delivery_limit",
    "x-delivery-count": 32,
}
RABBITMQ_4 = {
    **RABBITMQ_3_10,
    "x-last-death-exchange": "",
    "x-last-death-queue": "q",
    "x-last-death-reason": "delivery_limit",
}


@pytest.mark.parametrize("name", sorted(RABBITMQ_4.keys() - {RECEIVED_AT_HEADER}))
def test_every_header_the_broker_sets_is_known(name: str) -> None:
    assert broker_set(name)


@pytest.mark.parametrize("name", [ERROR_HEADER, RECEIVED_AT_HEADER, REPLAYS_HEADER, "x-deathly", "x-delivery"])
def test_the_project_and_lookalike_headers_are_not_the_brokers(name: str) -> None:
    assert not broker_set(name)


@pytest.mark.parametrize("headers", [RABBITMQ_3_10, RABBITMQ_4], ids=["3.10", "4.x"])
def test_a_replayed_message_keeps_only_its_own_headers_and_counts_the_replay(headers: dict[str, object]) -> None:
    replayed = replayed_headers({**headers, ERROR_HEADER: "BigQuery rejected the row"})
    assert replayed == {RECEIVED_AT_HEADER: "2026-12-07T10:00:00Z", REPLAYS_HEADER: 1}
    assert replayed_headers(replayed)[REPLAYS_HEADER] == 2


@pytest.mark.parametrize("headers", [RABBITMQ_3_10, RABBITMQ_4], ids=["3.10", "4.x"])
def test_a_migrated_broker_dead_letter_keeps_its_reason_in_the_error_header(headers: dict[str, object]) -> None:
    moved = moved_headers(headers)
    assert moved == {
        RECEIVED_AT_HEADER: "2026-12-07T10:00:00Z",
        ERROR_HEADER: "dead-lettered by the broker: delivery_limit from q",
        REPLAYS_HEADER: 1,
    }


def test_a_migrated_waiting_message_gets_no_error_header() -> None:
    assert moved_headers({RECEIVED_AT_HEADER: "t", "x-delivery-count": 3}) == {
        RECEIVED_AT_HEADER: "t",
        REPLAYS_HEADER: 1,
    }


def test_the_writers_reason_wins_over_the_brokers() -> None:
    assert dead_reason({**RABBITMQ_4, ERROR_HEADER: b"undecodable body"}) == "undecodable body"
    assert moved_headers({**RABBITMQ_4, ERROR_HEADER: "undecodable body"})[ERROR_HEADER] == "undecodable body"


def test_the_summary_headers_give_the_reason_without_x_death() -> None:
    summary = {"x-last-death-reason": b"rejected", "x-last-death-queue": b"q"}
    assert dead_reason(summary) == "dead-lettered by the broker: rejected from q"
    assert dead_reason({}) == "unknown"


@pytest.mark.parametrize(("value", "count"), [(None, 1), (3, 4), ("5", 6), (b"2", 3), ("junk", 1), (-4, 1)])
def test_an_unreadable_replay_count_starts_again(value: object, count: int) -> None:
    headers = {} if value is None else {REPLAYS_HEADER: value}
    assert replayed_headers(headers)[REPLAYS_HEADER] == count


def test_the_move_into_the_holding_queue_is_not_counted() -> None:
    held = moved_headers(RABBITMQ_4, count=False)
    assert REPLAYS_HEADER not in held
    assert moved_headers(held)[REPLAYS_HEADER] == 1
    assert moved_headers({REPLAYS_HEADER: 2}, count=False)[REPLAYS_HEADER] == 2
