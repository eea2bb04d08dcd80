"""The writer loop: consume, batch, write, settle.

Two threads share the work. The consuming thread owns the broker session:
it decodes each delivery, fills batches, dead-letters undecodable messages
and settles batches. The sink thread writes one batch at a time, with the
retry policy, while the consuming thread already fills the next; the
prefetch (two batches) lets exactly that overlap happen. A result travels
back through a queue, and ``Session.wake`` makes the consuming thread
pick it up at once.

A delivery is acked only after the sink durably accepted its row. A batch
that stays transiently failing is nacked back to the queue; a row the sink
rejects for good, or an undecodable body, goes to ``<queue>.dead``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from schema.topology import RECEIVED_AT_HEADER
from writer.batch import DEFAULT_BATCH_MAX_BYTES, Batch, Batcher
from writer.consumer import BrokerSession, Delivery
from writer.errors import (
    BrokerError,
    PermanentSinkError,
    SinkConfigError,
    TransientSinkError,
    UndecodableMessageError,
)
from writer.metrics import WriterMetrics
from writer.retry import DEFAULT_CONNECT_POLICY, DEFAULT_WRITE_POLICY, RetryPolicy, call_with_retries
from writer.rows import Row, decode_report
from writer.session import Session, SessionFactory
from writer.sinks import Sink

log = logging.getLogger(__name__)

BATCHES_IN_FLIGHT: Final = 2
"""One batch being written and one being filled: the prefetch is this many batches."""
IDLE_POLL_SECONDS: Final = 0.25
LAG_POLL_SECONDS: Final = 5.0
UNDECODABLE: Final = "undecodable"
REJECTED: Final = "rejected"


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

    def __init__(self, *, sink: Sink, policy: RetryPolicy, stop: threading.Event, metrics: WriterMetrics) -> None:
        self._sink = sink
        self._policy = policy
        self._stop = stop
        self._metrics = metrics
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
        log.warning("transient sink failure, retrying", extra={"sink": self._sink.name, "error": str(error)})

    def store(self, job: Job, deliveries: list[Delivery], rows: list[Row]) -> Settlement:
        """Write ``rows``; a request refused as a whole is split until the bad row stands alone."""
        try:
            result = call_with_retries(
                lambda: self._sink.write(rows), policy=self._policy, stop=self._stop, on_retry=self._retried
            )
        except TransientSinkError as e:
            log.warning("sink still failing; returning the batch", extra={"rows": len(rows), "error": str(e)})
            return Settlement(job, requeue=list(deliveries))
        except PermanentSinkError as e:
            if len(rows) == 1:
                return Settlement(job, dead=[(deliveries[0], str(e))])
            middle = len(rows) // 2
            settlement = self.store(job, deliveries[:middle], rows[:middle])
            settlement.merge(self.store(job, deliveries[middle:], rows[middle:]))
            return settlement
        written = [d for i, d in enumerate(deliveries) if i not in result.rejected]
        dead = [(deliveries[i], reason) for i, reason in sorted(result.rejected.items())]
        return Settlement(job, written=written, dead=dead)


class Writer:
    """Drains one queue into one sink until stopped."""

    def __init__(
        self,
        *,
        amqp_url: str,
        queue_name: str,
        sink: Sink,
        batch_size: int = 500,
        batch_max_wait: float = 1.0,
        batch_max_bytes: int = DEFAULT_BATCH_MAX_BYTES,
        metrics: WriterMetrics | None = None,
        write_policy: RetryPolicy = DEFAULT_WRITE_POLICY,
        connect_policy: RetryPolicy = DEFAULT_CONNECT_POLICY,
        name: str = "spartakus-writer",
        session_factory: SessionFactory | None = None,
    ) -> None:
        self.metrics = metrics or WriterMetrics()
        self._amqp_url = amqp_url
        self._queue = queue_name
        self._sink = sink
        self._prefetch = batch_size * BATCHES_IN_FLIGHT
        self._batcher: Batcher[Delivery] = Batcher(
            max_rows=batch_size, max_bytes=batch_max_bytes, max_wait=batch_max_wait
        )
        self._write_policy = write_policy
        self._connect_policy = connect_policy
        self._name = name
        self._new_session = session_factory or self._broker_session
        self._session: Session | None = None
        self._ready: deque[Batch[Delivery]] = deque()
        self._poison: list[tuple[Delivery, str]] = []
        self._results: queue.SimpleQueue[Settlement] = queue.SimpleQueue()
        self._in_flight: Job | None = None
        self._draining = False
        self._next_lag_poll = 0.0

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then write what was received, ack it and return.

        Raises:
            BrokerError: RabbitMQ stayed unreachable through the reconnect policy.
            SinkConfigError: the sink cannot work as configured (its batch went back to the queue).
        """
        worker = SinkWorker(sink=self._sink, policy=self._write_policy, stop=stop, metrics=self.metrics)
        worker.start()
        try:
            self._session = self._connect(stop)
            while not self._finished():
                try:
                    self._step(stop, worker)
                except BrokerError as e:
                    self._recover(e, stop)
        finally:
            session, self._session = self._session, None
            worker.shutdown()
            if session is not None:
                session.close()

    def _broker_session(self, on_delivery: Callable[[Delivery], None]) -> Session:
        return BrokerSession(
            url=self._amqp_url, queue=self._queue, prefetch=self._prefetch, on_delivery=on_delivery, name=self._name
        )

    def _connect(self, stop: threading.Event) -> Session:
        def attempt() -> Session:
            session = self._new_session(self._on_delivery)
            try:
                session.open()
            except BrokerError:
                session.close()
                raise
            return session

        def retried(error: BaseException) -> None:
            log.warning("RabbitMQ unreachable, retrying", extra={"error": str(error)})

        session = call_with_retries(
            attempt, retry_on=BrokerError, policy=self._connect_policy, stop=stop, on_retry=retried
        )
        log.info("consuming", extra={"queue": self._queue, "prefetch": self._prefetch, "sink": self._sink.name})
        return session

    def _on_delivery(self, delivery: Delivery) -> None:
        try:
            row = decode_report(
                delivery.body,
                received_at_header=delivery.headers.get(RECEIVED_AT_HEADER),
                content_encoding=delivery.content_encoding,
            )
        except UndecodableMessageError as e:
            self._poison.append((delivery, str(e)))
            return
        self._ready.extend(self._batcher.add(delivery, row))

    def _finished(self) -> bool:
        idle = not self._ready and self._in_flight is None and not self._poison and self._batcher.pending == 0
        return self._draining and idle

    def _session_or_fail(self) -> Session:
        if self._session is None:
            raise BrokerError("RabbitMQ: no session")
        return self._session

    def _step(self, stop: threading.Event, worker: SinkWorker) -> None:
        session = self._session_or_fail()
        if stop.is_set() and not self._draining:
            self._draining = True
            session.cancel()
            self._ready.extend(b for b in [self._batcher.flush()] if b is not None)
        session.process(self._timeout())
        self._dead_letter_poison(session)
        self._apply_settlements(session)
        if (batch := self._batcher.due()) is not None:
            self._ready.append(batch)
        if self._in_flight is None and self._ready:
            self._in_flight = Job(self._ready.popleft(), session)
            worker.submit(self._in_flight, self._results)
        self._poll_lag(session)
        self.metrics.held_rows.set(session.unsettled)

    def _timeout(self) -> float:
        deadline = self._batcher.deadline()
        if deadline is None or self._in_flight is not None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, deadline - time.monotonic()))

    def _dead_letter_poison(self, session: Session) -> None:
        while self._poison:
            delivery, reason = self._poison[0]
            session.dead_letter(delivery, reason)
            self._poison.pop(0)
            self.metrics.dead_lettered.labels(UNDECODABLE).inc()
            log.warning("dead-lettered a message", extra={"message_id": delivery.message_id, "reason": reason})

    def _apply_settlements(self, session: Session) -> None:
        while not self._results.empty():
            settlement = self._results.get_nowait()
            self._in_flight = None
            if settlement.job.session is not session:
                # The channel these tags belong to is gone; the broker redelivers the batch.
                log.info("dropping a settlement from a lost connection", extra={"rows": len(settlement.job.batch)})
                continue
            for delivery, reason in settlement.dead:
                session.dead_letter(delivery, reason)
                self.metrics.dead_lettered.labels(REJECTED).inc()
                log.warning("dead-lettered a rejected row", extra={"message_id": delivery.message_id, "reason": reason})
            session.settle(ack=[d.tag for d in settlement.written], requeue=[d.tag for d in settlement.requeue])
            if settlement.fatal is not None:
                raise settlement.fatal
            self.metrics.rows_written.labels(self._sink.name).inc(len(settlement.written))
            outcome = "requeued" if settlement.requeue else "dead-lettered" if settlement.dead else "written"
            self.metrics.batches.labels(outcome).inc()

    def _poll_lag(self, session: Session) -> None:
        now = time.monotonic()
        if now >= self._next_lag_poll:
            self._next_lag_poll = now + LAG_POLL_SECONDS
            self.metrics.queue_messages.labels(self._queue).set(session.ready_messages())

    def _recover(self, error: BrokerError, stop: threading.Event) -> None:
        log.warning("lost the RabbitMQ connection", extra={"error": str(error)})
        if self._session is not None:
            self._session.close()
        self._session = None
        # Everything not yet acked is redelivered by the broker; drop the local copies.
        self._batcher.flush()
        self._ready.clear()
        self._poison.clear()
        if stop.is_set():
            self._draining = True
            self._wait_for_in_flight()
            return
        self.metrics.reconnects.inc()
        self._session = self._connect(stop)

    def _wait_for_in_flight(self) -> None:
        # Stopping without a connection: nothing can be acked any more, but the write in flight
        # must end before the sink is closed. ``stop`` is set, so its retries end at once.
        if self._in_flight is not None:
            self._results.get()
            self._in_flight = None
