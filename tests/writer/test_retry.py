"""The one retry policy: transient failures are retried within bounds; a stop request ends the waiting."""

from __future__ import annotations

import threading
import time

import pytest

from runtime.retry import RetryPolicy
from writer.errors import BrokerError, PermanentSinkError, TransientSinkError
from writer.retry import call_with_retries

QUICK = RetryPolicy(attempts=4, max_seconds=10, first_wait=0.01, max_wait=0.02)


class Failing:
    def __init__(self, failures: int, error: Exception) -> None:
        self.calls = 0
        self.failures = failures
        self.error = error

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "stored"


def test_transient_failures_are_retried_until_the_write_succeeds() -> None:
    fn = Failing(2, TransientSinkError("503"))
    retried: list[BaseException] = []
    assert call_with_retries(fn, policy=QUICK, stop=threading.Event(), on_retry=retried.append) == "stored"
    assert fn.calls == 3
    assert len(retried) == 2


def test_retries_are_bounded_and_end_with_the_last_transient_error() -> None:
    fn = Failing(99, TransientSinkError("503"))
    with pytest.raises(TransientSinkError):
        call_with_retries(fn, policy=QUICK, stop=threading.Event())
    assert fn.calls == QUICK.attempts


def test_permanent_failures_are_not_retried() -> None:
    fn = Failing(99, PermanentSinkError("invalid"))
    with pytest.raises(PermanentSinkError):
        call_with_retries(fn, policy=QUICK, stop=threading.Event())
    assert fn.calls == 1


def test_a_stop_request_ends_the_backoff_at_once() -> None:
    stop = threading.Event()
    stop.set()
    slow = RetryPolicy(attempts=10, max_seconds=600, first_wait=60, max_wait=60)
    fn = Failing(99, TransientSinkError("503"))
    started = time.monotonic()
    with pytest.raises(TransientSinkError):
        call_with_retries(fn, policy=slow, stop=stop)
    assert fn.calls == 1
    assert time.monotonic() - started < 5


def test_a_connection_is_retried_on_broker_errors_only() -> None:
    fn = Failing(2, BrokerError("refused"))
    assert call_with_retries(fn, retry_on=BrokerError, policy=QUICK, stop=threading.Event()) == "stored"
    assert fn.calls == 3
    sink_failure = Failing(99, TransientSinkError("503"))
    with pytest.raises(TransientSinkError):
        call_with_retries(sink_failure, retry_on=BrokerError, policy=QUICK, stop=threading.Event())
    assert sink_failure.calls == 1
