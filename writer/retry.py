"""The writer's one retry policy (tenacity): how long to keep trying, and how to wait between attempts.

What is transient is the failing module's to say: a sink raises
``TransientSinkError`` (each sink decides which of its store's failures are),
the broker session ``BrokerError``. A write is retried with exponential
backoff and jitter, for a bounded number of attempts and time; then the batch
goes back to the queue. A stop request ends the backoff at once, so SIGTERM
never waits out a sleep. Business code never sleeps: all waiting happens here.
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

from writer.errors import TransientSinkError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds of one retry cycle."""

    attempts: int = 6
    max_seconds: float = 60.0
    first_wait: float = 0.5
    max_wait: float = 15.0


DEFAULT_WRITE_POLICY: Final = RetryPolicy()
DEFAULT_CONNECT_POLICY: Final = RetryPolicy(attempts=8, max_seconds=120.0, first_wait=0.5, max_wait=20.0)


def call_with_retries(
    fn: Callable[[], T],
    *,
    retry_on: type[Exception] = TransientSinkError,
    policy: RetryPolicy = DEFAULT_WRITE_POLICY,
    stop: threading.Event,
    on_retry: Callable[[BaseException], None] | None = None,
) -> T:
    """Call ``fn``, retrying on ``retry_on`` (a sink write by default; ``BrokerError`` for a connection).

    Raises:
        retry_on: the last failure, once the policy's bounds or ``stop`` end the cycle.
    """

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None and (exc := state.outcome.exception()) is not None:
            on_retry(exc)

    def sleep(seconds: float) -> None:
        stop.wait(seconds)

    retrying = Retrying(
        retry=retry_if_exception_type(retry_on),
        stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds) | stop_when_event_set(stop),
        wait=wait_random_exponential(multiplier=policy.first_wait, max=policy.max_wait),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)
