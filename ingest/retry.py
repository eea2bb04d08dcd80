"""The gateway's one retry loop: reconnecting to the broker with bounded, jittered backoff.

The gateway never gives up on the broker while it runs: requests get 503 and
``/readyz`` says not ready in the meantime, so an orchestrator can route around
it. Only the delay between attempts is bounded (``runtime.retry.RetryPolicy``).
"""

from __future__ import annotations

import logging
from typing import Final

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from ingest.ports import BrokerUnavailableError
from runtime.retry import RetryPolicy

RECONNECT_POLICY: Final = RetryPolicy(first_wait=0.1, max_wait=5.0, jitter=0.25)
"""A broker restart or a dropped connection often heals at once; recovery is noticed within seconds."""

log = logging.getLogger(__name__)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "broker connection failed; retrying",
        extra={"attempt": state.attempt_number, "retry_in_s": round(wait, 2), "reason": str(error)},
    )


def reconnect_attempts(policy: RetryPolicy = RECONNECT_POLICY) -> AsyncRetrying:
    """Attempts at connecting: retries ``BrokerUnavailableError`` within ``policy``'s bounds (none by default)."""
    return AsyncRetrying(
        retry=retry_if_exception_type(BrokerUnavailableError),
        wait=policy.waits(),
        stop=policy.bounds(),
        before_sleep=_log_retry,
        reraise=True,
    )
