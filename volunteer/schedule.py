"""When reports are made: once at start, then in this cluster's own slot of every period.

A fleet restarted at once (a rollout, a region recovering) must not report in
the same second forever after. Each cluster's reports are therefore aligned to
a slot inside the period, derived deterministically from its cluster id, plus
a little randomness. Two reports start at least half a period apart, so a
restart just before the slot does not report twice in a row.

``run_periodically`` waits on a ``threading.Event``: SIGTERM sets it and the
wait ends at once. It serves platforms without ``signal.sigtimedwait``; elsewhere
``volunteer.scheduler`` runs the same schedule in a process of its own, which
imports this module, so it loads nothing beyond the standard library's basics.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import threading

MAX_JITTER_SECONDS: Final = 300.0
JITTER_FRACTION: Final = 0.01


def slot_offset(cluster_id: str, period: float) -> float:
    """Seconds into each period (counted from the Unix epoch) at which ``cluster_id`` reports; in ``[0, period)``."""
    # Imported here: hashlib maps OpenSSL (about 3.5 MiB), and the waiting scheduler imports this module for
    # next_slot only, its slot being computed before it starts.
    import hashlib  # noqa: PLC0415  # see the comment above

    digest = hashlib.sha256(cluster_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * period


def max_jitter(period: float) -> float:
    """The largest random delay added to a slot: 1% of the period, at most five minutes."""
    return min(JITTER_FRACTION * period, MAX_JITTER_SECONDS)


def next_slot(*, last_start: float, now: float, period: float, offset: float) -> float:
    """The first slot time after both ``now`` and half a period past ``last_start`` (Unix seconds)."""
    earliest = max(last_start + period / 2, now)
    cycles = math.floor((earliest - offset) / period) + 1
    return offset + cycles * period


def run_periodically(
    report: Callable[[], object],
    *,
    period: float,
    cluster_id: str,
    stop: threading.Event,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> None:
    """Call ``report`` now and then once per period, until ``stop`` is set.

    Args:
        report: makes and sends one report; its errors are its own business.
        period: seconds between reports (positive).
        cluster_id: chooses this cluster's slot in the period.
        stop: ends the loop, also in the middle of a wait.
        clock: wall-clock time in Unix seconds.
        rng: the source of jitter.
    """
    offset = slot_offset(cluster_id, period)
    jitter = rng or random.Random()  # noqa: S311  # spreading load, not security
    while not stop.is_set():
        started = clock()
        report()
        target = next_slot(last_start=started, now=clock(), period=period, offset=offset)
        delay = target + jitter.uniform(0, max_jitter(period)) - clock()
        if stop.wait(max(0.0, delay)):
            return
