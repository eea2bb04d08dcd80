"""The gateway's one retry policy: reconnecting to the broker with bounded, jittered backoff.

The gateway never gives up on the broker while it runs: requests get 503 and
``/readyz`` says not ready in the meantime, so an orchestrator can route around
it. Only the delay between attempts is bounded.
"""

from __future__ import annotations

import logging
from typing import Final

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never, wait_exponential_jitter

from ingest.ports import BrokerUnavailableError

RECONNECT_FIRST_WAIT: Final = 0.1
"""Seconds before the first reconnect attempt: a broker restart or a dropped connection often heals at once."""
RECONNECT_MAX_WAIT: Final = 5.0
"""Longest pause between attempts, so recovery is noticed within seconds."""
RECONNECT_JITTER: Final = 0.25

log = logging.getLogger(__name__)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "broker connection failed; retrying",
        extra={"attempt": state.attempt_number, "retry_in_s": round(wait, 2), "reason": str(error)},
    )


def reconnect_attempts() -> AsyncRetrying:
    """Attempts at connecting: retries ``BrokerUnavailableError`` forever, waiting at most ``RECONNECT_MAX_WAIT``."""
    return AsyncRetrying(
        retry=retry_if_exception_type(BrokerUnavailableError),
        wait=wait_exponential_jitter(initial=RECONNECT_FIRST_WAIT, max=RECONNECT_MAX_WAIT, jitter=RECONNECT_JITTER),
        stop=stop_never,
        before_sleep=_log_retry,
        reraise=True,
    )
