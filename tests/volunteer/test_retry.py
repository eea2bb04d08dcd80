"""The retry policy: transient errors only, Retry-After as a floor, a deadline, and a prompt stop."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from runtime.retry import RetryPolicy
from volunteer import retry
from volunteer.errors import PermanentError, StoppedError, TransientError

FAST = RetryPolicy(first_wait=0.01, max_wait=0.05)


class Flaky:
    """Fails with the given errors, then returns ``"ok"``; records when each attempt started."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[float] = []

    def __call__(self) -> str:
        self.calls.append(time.monotonic())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def _call(
    fn: Flaky, *, budget: float = 5, stop: threading.Event | None = None, attempts: retry.Attempts | None = None
) -> str:
    return retry.call(
        fn,
        what="test",
        deadline=time.monotonic() + budget,
        stop=stop or threading.Event(),
        policy=FAST,
        attempts=attempts,
    )


def test_transient_errors_are_retried_until_success() -> None:
    fn = Flaky(TransientError("503"), TransientError("timeout"))
    attempts = retry.Attempts()

    assert _call(fn, attempts=attempts) == "ok"
    assert attempts.count == 3


def test_permanent_errors_are_not_retried() -> None:
    fn = Flaky(PermanentError("422"))

    with pytest.raises(PermanentError):
        _call(fn)
    assert len(fn.calls) == 1


def test_retry_after_is_a_floor_for_the_wait() -> None:
    fn = Flaky(TransientError("429", retry_after=0.3))

    assert _call(fn) == "ok"
    assert fn.calls[1] - fn.calls[0] >= 0.3


def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    fn = Flaky(TransientError("503", retry_after=30))
    started = time.monotonic()

    with pytest.raises(TransientError, match="503"):
        _call(fn, budget=1)
    assert time.monotonic() - started < 0.5
    assert len(fn.calls) == 1


def test_the_deadline_bounds_how_long_transient_errors_are_retried() -> None:
    fn = Flaky(*[TransientError("down") for _ in range(1000)])
    started = time.monotonic()

    with pytest.raises(TransientError):
        _call(fn, budget=0.3)
    assert time.monotonic() - started < 0.6
    assert len(fn.calls) > 2


def test_a_stop_during_the_wait_ends_it_at_once() -> None:
    stop = threading.Event()
    fn = Flaky(TransientError("503", retry_after=20))
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()

    with pytest.raises(StoppedError):
        _call(fn, budget=60, stop=stop)
    assert time.monotonic() - started < 2


def test_no_attempt_starts_after_a_stop() -> None:
    stop = threading.Event()
    stop.set()
    fn = Flaky()

    with pytest.raises(StoppedError):
        _call(fn, stop=stop)
    assert fn.calls == []


def test_backoff_grows_exponentially_with_jitter() -> None:
    policy = RetryPolicy(first_wait=0.05, max_wait=10, jitter=0.05)
    fn = Flaky(*[TransientError("down") for _ in range(3)])

    retry.call(fn, what="test", deadline=time.monotonic() + 10, stop=threading.Event(), policy=policy)

    gaps = [b - a for a, b in itertools.pairwise(fn.calls)]
    assert gaps[0] >= 0.05
    assert gaps[2] >= 0.2  # 0.05 * 2**2, plus up to 0.05 of jitter
