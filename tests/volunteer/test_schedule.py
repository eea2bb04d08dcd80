"""The schedule: a report at start, then one in this cluster's slot of each period; SIGTERM ends the wait."""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volunteer.schedule import max_jitter, next_slot, run_periodically, slot_offset

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


def test_reports_at_start_then_stops_promptly_when_asked_during_the_wait() -> None:
    stop = threading.Event()
    reports: list[float] = []

    def report() -> None:
        reports.append(time.monotonic())
        threading.Timer(0.1, stop.set).start()  # SIGTERM arriving while the loop waits a day

    started = time.monotonic()
    run_periodically(report, period=DAY, cluster_id="c", stop=stop, rng=random.Random(1))  # noqa: S311  # jitter
    elapsed = time.monotonic() - started

    assert len(reports) == 1
    assert reports[0] - started < 0.5
    assert elapsed < 2


def test_reports_repeat_once_per_period() -> None:
    stop = threading.Event()
    reports: list[float] = []

    def report() -> None:
        reports.append(time.time())
        if len(reports) == 3:
            stop.set()

    run_periodically(report, period=0.2, cluster_id="c", stop=stop, rng=random.Random(1))  # noqa: S311  # jitter

    gaps = [b - a for a, b in itertools.pairwise(reports)]
    assert len(reports) == 3
    assert all(0.1 <= gap <= 0.45 for gap in gaps), gaps


def test_a_stop_before_start_makes_no_report() -> None:
    stop = threading.Event()
    stop.set()
    calls: list[int] = []

    run_periodically(lambda: calls.append(1), period=DAY, cluster_id="c", stop=stop)

    assert calls == []
