"""The sink thread: writes one batch at a time, and holds it through a store outage instead of returning it.

A batch whose store is unreachable is retried with growing pauses (up to the
write policy's longest wait) for as long as ``max_hold`` allows, counted from
when the batch was opened. Only then does it go back to the queue. Each
return costs its messages one delivery of the queue's delivery limit, so a
store outage of ``T`` costs a message at most ``T / max_hold + 1`` deliveries:
with the default 20 minutes and a limit of 20, an outage of six hours
dead-letters nothing. ``max_hold`` must stay under RabbitMQ's
``consumer_timeout`` (30 minutes by default), after which the broker closes a
channel that holds an unacked delivery.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from runtime.retry import RetryPolicy
from writer.batch import Batch
from writer.errors import PermanentSinkError, SinkConfigError, TransientSinkError
from writer.metrics import WriterMetrics
from writer.retry import call_with_retries
from writer.rows import Row
from writer.session import Delivery, Session
from writer.sink import Sink

log = logging.getLogger(__name__)

DEFAULT_MAX_HOLD: Final = 20 * 60.0
"""Seconds a batch is held through a store outage before it goes back to the queue."""
RABBITMQ_CONSUMER_TIMEOUT: Final = 30 * 60.0
"""RabbitMQ's default ``consumer_timeout``: a delivery unacked for longer closes its channel."""


@dataclass(slots=True)
class Job:
    """A batch handed to the sink thread, and the session its deliveries belong to."""

    batch: Batch[Delivery]
    session: Session
    started: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class Settlement:
    """What became of a job's deliveries."""

    job: Job
    written: list[Delivery] = field(default_factory=list)
    dead: list[tuple[Delivery, str]] = field(default_factory=list)
    requeue: list[Delivery] = field(default_factory=list)
    fatal: SinkConfigError | None = None
    """The sink cannot work as configured: the writer returns the batch and stops."""

    def merge(self, other: Settlement) -> None:
        """Add ``other``'s outcomes (the two halves of a split batch)."""
        self.written += other.written
        self.dead += other.dead
        self.requeue += other.requeue


class SinkWorker:
    """The sink thread: writes one job at a time with the retry policy."""

    def __init__(
        self,
        *,
        sink: Sink,
        policy: RetryPolicy,
        stop: threading.Event,
        metrics: WriterMetrics,
        max_hold: float = DEFAULT_MAX_HOLD,
    ) -> None:
        self._sink = sink
        self._policy = policy
        self._max_hold = max_hold
        self._stop = stop
        self._metrics = metrics
        self._stalled = False
        """A batch went back to the queue after ``max_hold`` and none was written since: said once, at error level."""
        self._jobs: queue.SimpleQueue[tuple[Job, queue.SimpleQueue[Settlement], Session] | None]
        self._jobs = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="spartakus-writer-sink", daemon=True)

    def start(self) -> None:
        """Start the sink thread."""
        self._thread.start()

    def submit(self, job: Job, results: queue.SimpleQueue[Settlement]) -> None:
        """Write ``job`` and put its settlement on ``results``, then wake the job's session."""
        self._jobs.put((job, results, job.session))

    def shutdown(self) -> None:
        """Finish the current job and end the thread."""
        self._jobs.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, results, session = item
            try:
                settlement = self.store(job, job.batch.deliveries, job.batch.rows)
            except SinkConfigError as e:
                settlement = Settlement(job, requeue=list(job.batch.deliveries), fatal=e)
            except Exception:
                # A bug in a sink must not lose the batch: it goes back to the queue (the delivery limit bounds this).
                log.exception("sink failed unexpectedly; returning the batch", extra={"rows": len(job.batch)})
                settlement = Settlement(job, requeue=list(job.batch.deliveries))
            self._metrics.batch_seconds.observe(time.monotonic() - job.started)
            results.put(settlement)
            session.wake()

    def _retried(self, error: BaseException) -> None:
        self._metrics.retries.inc()
        self._metrics.store_unreachable.set(1)
        log.warning("transient sink failure, retrying", extra={"sink": self._sink.name, "error": str(error)})

    def _no_progress(self, error: TransientSinkError, held: float) -> None:
        """Say once, at error level, that the writer cannot store anything, why, and what would fix it."""
        if self._stalled or held < self._max_hold:
            return
        self._stalled = True
        log.error(
            "the writer has stored nothing for --max-hold; batches go back to the queue until the store accepts them",
            extra={
                "sink": self._sink.name,
                "max_hold_s": self._max_hold,
                "reason": str(error),
                "fix": error.fix or "make the store reachable and writable; the reason says what failed",
            },
        )

    def _hold_policy(self, job: Job) -> RetryPolicy:
        """The write policy's backoff, for as long as the batch may still be held: the hold's time, not a count of
        attempts, ends the retries."""
        left = job.batch.opened_at + self._max_hold - time.monotonic()
        return dataclasses.replace(self._policy, attempts=None, max_seconds=max(0.0, left))

    def store(self, job: Job, deliveries: list[Delivery], rows: list[Row]) -> Settlement:
        """Write ``rows``; a request refused as a whole is split until the bad row stands alone."""
        try:
            result = call_with_retries(
                lambda: self._sink.write(rows), policy=self._hold_policy(job), stop=self._stop, on_retry=self._retried
            )
        except TransientSinkError as e:
            held = time.monotonic() - job.batch.opened_at
            log.warning(
                "sink still failing; returning the batch to the queue",
                extra={"rows": len(rows), "held_s": round(held, 1), "error": str(e)},
            )
            self._no_progress(e, held)
            return Settlement(job, requeue=list(deliveries))
        except PermanentSinkError as e:
            if len(rows) == 1:
                return Settlement(job, dead=[(deliveries[0], str(e))])
            middle = len(rows) // 2
            settlement = self.store(job, deliveries[:middle], rows[:middle])
            settlement.merge(self.store(job, deliveries[middle:], rows[middle:]))
            return settlement
        self._metrics.store_unreachable.set(0)
        if self._stalled:
            self._stalled = False
            log.warning("the store accepts batches again", extra={"sink": self._sink.name})
        written = [d for i, d in enumerate(deliveries) if i not in result.rejected]
        dead = [(deliveries[i], reason) for i, reason in sorted(result.rejected.items())]
        return Settlement(job, written=written, dead=dead)
