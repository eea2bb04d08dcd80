"""When reports are due: this cluster's slot of each period, half a period apart at least, plus a little jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volunteer.slots import max_jitter, next_slot, seconds_to_next, slot_offset

DAY = 24 * 3600.0


def test_slot_offset_is_deterministic_and_inside_the_period() -> None:
    offset = slot_offset("2f9c93d3-156c-47aa-8802-578ffca9b50e", DAY)

    assert offset == slot_offset("2f9c93d3-156c-47aa-8802-578ffca9b50e", DAY)
    assert 0 <= offset < DAY


def test_a_fleet_of_clusters_is_spread_over_the_period() -> None:
    offsets = [slot_offset(f"cluster-{i}", DAY) for i in range(1000)]
    hours = {int(offset // 3600) for offset in offsets}

    assert hours == set(range(24))


@given(
    last_start=st.floats(min_value=1.6e9, max_value=1.9e9),
    lag=st.floats(min_value=0, max_value=2 * DAY),
    period=st.floats(min_value=1, max_value=7 * DAY),
    fraction=st.floats(min_value=0, max_value=0.999),
)
def test_next_slot_is_in_the_clusters_slot_after_now_and_half_a_period_on(
    last_start: float, lag: float, period: float, fraction: float
) -> None:
    offset = fraction * period
    now = last_start + lag

    slot = next_slot(last_start=last_start, now=now, period=period, offset=offset)

    assert slot > now
    assert slot >= last_start + period / 2
    assert slot - max(now, last_start + period / 2) <= period * (1 + 1e-9)
    cycles = (slot - offset) / period
    assert cycles == pytest.approx(round(cycles), abs=1e-6)


def test_jitter_is_a_small_part_of_the_period_and_at_most_five_minutes() -> None:
    assert max_jitter(60) == pytest.approx(0.6)
    assert max_jitter(DAY) == 300


def test_the_wait_for_the_next_report_ends_in_its_slot_plus_at_most_the_jitter() -> None:
    offset = slot_offset("c", DAY)
    now = 1.7e9

    waits = [
        seconds_to_next(last_start=now, now=now, period=DAY, offset=offset, rng=random.Random(seed))  # noqa: S311
        for seed in range(50)
    ]

    slot = next_slot(last_start=now, now=now, period=DAY, offset=offset)
    assert all(slot - now <= wait <= slot - now + max_jitter(DAY) for wait in waits)
    assert len(set(waits)) > 1
