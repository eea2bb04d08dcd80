"""When reports are due: once at start, then in this cluster's own slot of every period.

A fleet restarted at once (a rollout, a region recovering) must not report in
the same second forever after. Each cluster's reports are therefore aligned to
a slot inside the period, derived deterministically from its cluster id, plus
a little randomness. Two reports start at least half a period apart, so a
restart just before the slot does not report twice in a row.

The waiting process of ``volunteer.periodic`` imports this module, so it
loads nothing beyond the standard library's basics.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import random

MAX_JITTER_SECONDS: Final = 300.0
JITTER_FRACTION: Final = 0.01


def slot_offset(cluster_id: str, period: float) -> float:
    """Seconds into each period (counted from the Unix epoch) at which ``cluster_id`` reports; in ``[0, period)``."""
    # Imported here: hashlib maps OpenSSL (about 3.5 MiB), and the waiting process imports this module for
    # seconds_to_next only, its slot being computed before it starts.
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


def seconds_to_next(*, last_start: float, now: float, period: float, offset: float, rng: random.Random) -> float:
    """Seconds from ``now`` until the next report: its slot, plus up to ``max_jitter`` random seconds."""
    target = next_slot(last_start=last_start, now=now, period=period, offset=offset)
    return target + rng.uniform(0, max_jitter(period)) - now
