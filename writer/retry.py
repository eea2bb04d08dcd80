"""The writer's one retry policy (tenacity): which failures are transient, and how long to keep trying.

Transient: connection errors, timeouts, HTTP 429/500/502/503/504 and the
BigQuery reasons ``backendError`` and ``rateLimitExceeded``. A write is
retried with exponential backoff and jitter, for a bounded number of attempts
and time; then the batch goes back to the queue. A stop request ends the
backoff at once, so SIGTERM never waits out a sleep. Business code never
sleeps: all waiting happens here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_when_event_set,
    wait_random_exponential,
)

from writer.errors import BrokerError, TransientSinkError

T = TypeVar("T")

TRANSIENT_HTTP_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
TRANSIENT_REASONS: Final = frozenset({"backendError", "rateLimitExceeded", "internalError", "timeout"})


def is_transient_status(status: int | None) -> bool:
    """Whether an HTTP status is worth retrying."""
    return status in TRANSIENT_HTTP_STATUSES


def is_transient_reason(reason: str | None) -> bool:
    """Whether a BigQuery error reason is worth retrying."""
    return reason in TRANSIENT_REASONS


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of one retry cycle."""

    attempts: int = 6
    max_seconds: float = 60.0
    first_wait: float = 0.5
    max_wait: float = 15.0


DEFAULT_WRITE_POLICY: Final = RetryPolicy()
DEFAULT_CONNECT_POLICY: Final = RetryPolicy(attempts=8, max_seconds=120.0, first_wait=0.5, max_wait=20.0)


def _retrying(
    policy: RetryPolicy,
    error: type[Exception],
    stop: threading.Event,
    on_retry: Callable[[BaseException], None] | None,
) -> Retrying:
    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and (exc := state.outcome.exception()) is not None:
            on_retry(exc)

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    return Retrying(
        retry=retry_if_exception_type(error),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds) | stop_when_event_set(stop),
        wait=wait_random_exponential(multiplier=policy.first_wait, max=policy.max_wait),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def call_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_WRITE_POLICY,
    stop: threading.Event,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call ``fn``, retrying on ``TransientSinkError``.

    Raises:
        TransientSinkError: the last failure, once the policy's bounds or ``stop`` end the cycle.
    """
    return _retrying(policy, TransientSinkError, stop, on_retry)(fn)


def connect_with_retries(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy = DEFAULT_CONNECT_POLICY,
    stop: threading.Event,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call ``fn`` (open a broker connection), retrying on ``BrokerError`` with the same backoff.

    Raises:
        BrokerError: the last failure, once the policy's bounds or ``stop`` end the cycle.
    """
    return _retrying(policy, BrokerError, stop, on_retry)(fn)
