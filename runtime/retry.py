"""The one retry policy: how the waits between attempts grow, and when attempts end.

The gateway (reconnecting to its broker), the writer (writes and broker
connections) and the volunteer (reading the API, posting a report) each wait
with the same shape: exponential from ``first_wait``, at most ``max_wait``,
plus up to ``jitter`` random seconds. What ends a cycle differs: the gateway
never gives up while it runs, the writer stops after ``attempts`` or
``max_seconds``, the volunteer at its report's deadline. Each component keeps
its own loop (what is transient is its to say); the numbers live here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import stop_after_attempt, stop_after_delay, stop_never, wait_exponential, wait_random
from tenacity.stop import stop_base
from tenacity.wait import wait_base


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the waits between attempts grow, and the bounds of one retry cycle.

    Attributes:
        first_wait: seconds before the first attempt again; each later wait doubles, up to ``max_wait``.
        max_wait: the longest wait between two attempts, before jitter (and before any ``Retry-After``).
        jitter: the most random seconds added to each wait, so that many clients do not retry in step.
        attempts: the most attempts in one cycle (None: no bound).
        max_seconds: the longest one cycle may last (None: no bound).
    """

    first_wait: float
    max_wait: float
    jitter: float = 0.0
    attempts: int | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.first_wait < 0 or self.max_wait < self.first_wait or self.jitter < 0:
            raise ValueError(f"a retry policy needs 0 <= first_wait <= max_wait and jitter >= 0: {self}")
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"a retry policy needs at least one attempt: {self}")

    def waits(self) -> wait_base:
        """The tenacity wait strategy: ``first_wait * 2**n``, at most ``max_wait``, plus up to ``jitter``."""
        backoff = wait_exponential(multiplier=self.first_wait, max=self.max_wait)
        return backoff + wait_random(0, self.jitter) if self.jitter else backoff

    def bounds(self) -> stop_base:
        """The tenacity stop strategy of ``attempts`` and ``max_seconds`` (never, when neither is set)."""
        stops: list[stop_base] = []
        if self.attempts is not None:
            stops.append(stop_after_attempt(self.attempts))
        if self.max_seconds is not None:
            stops.append(stop_after_delay(self.max_seconds))
        if not stops:
            return stop_never
        combined = stops[0]
        for stop in stops[1:]:
            combined = combined | stop
        return combined
