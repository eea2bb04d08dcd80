"""Costly validation yields to the event loop as long as it held it (unit test, no broker)."""

from __future__ import annotations

import asyncio
import time

from ingest.offload import Offloader


def _busy(seconds: float) -> tuple[float, float]:
    """Hold the GIL for ``seconds`` of pure Python work; returns when it started and ended."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        pass
    return started, time.monotonic()


def test_work_after_costly_work_waits_as_long_as_that_work_took_and_the_loop_runs_meanwhile() -> None:
    async def scenario() -> tuple[tuple[float, float], tuple[float, float], list[float]]:
        offloader = Offloader()
        ticks: list[float] = []

        async def tick() -> None:
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        first = await offloader.run(lambda: _busy(0.3))
        second = await offloader.run(lambda: _busy(0.05))
        ticker.cancel()
        offloader.shutdown()
        return first, second, ticks

    first, second, ticks = asyncio.run(scenario())

    assert second[0] - first[1] >= first[1] - first[0]
    # The loop's turn: between the two pieces of work it ran freely.
    assert sum(1 for t in ticks if first[1] < t < second[0]) >= 10


def test_lone_work_starts_at_once() -> None:
    async def scenario() -> float:
        offloader = Offloader()
        asked = time.monotonic()
        started, _ended = await offloader.run(lambda: _busy(0.01))
        offloader.shutdown()
        return started - asked

    assert asyncio.run(scenario()) < 0.2
