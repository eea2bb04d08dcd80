"""The volunteer's retry loop (tenacity): ``runtime.retry.RetryPolicy``'s backoff, within a deadline.

Transient errors (connection problems, timeouts, 429 and 5xx) are retried;
anything else is not. A ``Retry-After`` the other side sent is a floor for the
wait. No attempt starts, and no wait is begun, that would end past the
report's deadline, so one report never runs into the next period. Waits end
at once when a stop is requested, because they wait on the stop event rather
than sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Final, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from runtime.retry import RetryPolicy
from volunteer.errors import StoppedError, TransientError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POLICY: Final = RetryPolicy(first_wait=1.0, max_wait=300.0, jitter=1.0)
"""1 s, doubling up to five minutes, each wait plus up to 1 s at random so a fleet does not retry in step."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date; None when absent or unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class Attempts:
    """How many attempts the last ``call`` made (for the report's log line)."""

    count: int = 0


class _Deadline:
    def __init__(self, deadline: float, clock: Callable[[], float]) -> None:
        self._deadline = deadline
        self._clock = clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        # tenacity computes the wait before asking whether to stop, so a wait
        # (or a Retry-After) that would end past the deadline stops now.
        return self._clock() + retry_state.upcoming_sleep >= self._deadline


def _waiter(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = policy.waits()

    def wait(retry_state: RetryCallState) -> float:
        delay: float = backoff(retry_state)
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        retry_after = error.retry_after if isinstance(error, TransientError) else None
        return delay if retry_after is None else max(delay, retry_after)

    return wait


def _log_retry(what: str) -> Callable[[RetryCallState], None]:
    def before_sleep(retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome is not None else None
        log.warning(
            f"{what} failed; retrying",
            extra={
                "attempt": retry_state.attempt_number,
                "error": str(error),
                "wait_s": round(retry_state.upcoming_sleep, 3),
            },
        )

    return before_sleep


def call(
    fn: Callable[[], T],
    *,
    what: str,
    deadline: float,
    stop: threading.Event,
    policy: RetryPolicy,
    attempts: Attempts | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``fn``, retrying transient errors until it succeeds or ``deadline`` (a ``clock`` time) comes.

    Raises:
        StoppedError: when ``stop`` is set before an attempt or during a wait.
        TransientError: the last transient error, when the deadline leaves no room for another attempt.
        PermanentError: at once, without retrying.
    """

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise StoppedError(f"stopped while waiting to retry {what}")

    def attempt() -> T:
        if stop.is_set():
            raise StoppedError(f"stopped before {what}")
        if attempts is not None:
            attempts.count += 1
        return fn()

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=_waiter(policy),
        stop=_Deadline(deadline, clock),
        sleep=sleep,
        before_sleep=_log_retry(what),
        reraise=True,
    )
    return retrying(attempt)
