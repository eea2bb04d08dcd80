"""What a writer holds: bytes against its budget, and the age of its oldest report."""

from __future__ import annotations

import pytest

from writer.holding import Holdings, received_epoch


def test_bytes_count_bodies_and_decoded_rows_until_settled() -> None:
    holdings = Holdings(max_bytes=1_000, clock=lambda: 100.0)
    holdings.received(1, 300, received_at=90.0)
    holdings.received(2, 300, received_at=95.0)
    holdings.decoded_into(1, 450)
    assert (holdings.nbytes, holdings.decoded) == (1_050, 1)
    assert holdings.over_budget()
    holdings.settled([1])
    assert (holdings.nbytes, holdings.decoded, len(holdings)) == (300, 0, 1)
    assert not holdings.over_budget()
    assert holdings.may_resume()


def test_the_budget_frees_deliveries_again_only_below_half() -> None:
    holdings = Holdings(max_bytes=1_000)
    holdings.received(1, 600, received_at=0.0)
    assert not holdings.over_budget()
    assert not holdings.may_resume()


def test_the_oldest_report_age_runs_from_its_receive_time_and_is_zero_when_nothing_is_held() -> None:
    holdings = Holdings(clock=lambda: 1_000.0)
    assert holdings.oldest_age() == 0.0
    holdings.received(7, 10, received_at=400.0)
    holdings.received(8, 10, received_at=900.0)
    assert holdings.oldest_age() == 600.0
    holdings.clear()
    assert (holdings.oldest_age(), holdings.nbytes) == (0.0, 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"2026-11-27T10:00:00+00:00", 1_795_773_600.0),
        ("2026-11-27T10:00:00+00:00", 1_795_773_600.0),
        ("not a time", 5.0),
        (None, 5.0),
    ],
)
def test_the_receive_time_comes_from_the_gateways_header(header: object, expected: float) -> None:
    assert received_epoch(header, default=5.0) == expected
