"""The gateway's one retry policy: reconnecting to the broker with bounded, jittered backoff.

The gateway never gives up on the broker while it runs: requests get 503 and
``/readyz`` says not ready in the meantime, so an orchestrator can route around
it. Only the delay between attempts is bounded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential_jitter

from ingest.ports import BrokerUnavailableError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How the waits between reconnect attempts grow (the names the volunteer's and writer's policies use).

    Attributes:
        first_wait: seconds before the first attempt again: a broker restart or a dropped connection often heals
            at once.
        max_wait: the longest pause between attempts, so that recovery is noticed within seconds.
        jitter: the most random seconds added to each wait.
    """

    first_wait: float = 0.1
    max_wait: float = 5.0
    jitter: float = 0.25


RECONNECT_POLICY: Final = RetryPolicy()

log = logging.getLogger(__name__)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "broker connection failed; retrying",
        extra={"attempt": state.attempt_number, "retry_in_s": round(wait, 2), "reason": str(error)},
    )


def reconnect_attempts(policy: RetryPolicy = RECONNECT_POLICY) -> AsyncRetrying:
    """Attempts at connecting: retries ``BrokerUnavailableError`` forever, waiting at most ``policy.max_wait``."""
    return AsyncRetrying(
        retry=retry_if_exception_type(BrokerUnavailableError),
        wait=wait_exponential_jitter(initial=policy.first_wait, max=policy.max_wait, jitter=policy.jitter),
        stop=stop_never,
        before_sleep=_log_retry,
        reraise=True,
    )
