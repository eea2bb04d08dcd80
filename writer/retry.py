"""The writer's one retry loop (tenacity), with its policies (``runtime.retry.RetryPolicy``): writes and connects.

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
from typing import Final, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_when_event_set

from runtime.retry import RetryPolicy
from writer.errors import TransientSinkError

T = TypeVar("T")

DEFAULT_WRITE_POLICY: Final = RetryPolicy(first_wait=0.5, max_wait=15.0, jitter=0.5, attempts=6, max_seconds=60.0)
DEFAULT_CONNECT_POLICY: Final = RetryPolicy(first_wait=0.5, max_wait=20.0, jitter=0.5, attempts=8, max_seconds=120.0)


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
        stop=policy.bounds() | stop_when_event_set(stop),
        wait=policy.waits(),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(fn)
