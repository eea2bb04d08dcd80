"""The writer loop: consume, batch, write, settle.

Two threads share the work. The consuming thread owns the broker session:
it decodes deliveries (while the byte budget of ``writer.holding`` allows),
fills batches, dead-letters undecodable messages and settles batches. The
sink thread writes one batch at a time, with the retry policy, while the
consuming thread already fills the next; the prefetch (two batches) lets
exactly that overlap happen. A result travels back through a queue, and
``Session.wake`` makes the consuming thread pick it up at once.

A delivery is acked only after the sink durably accepted its rows. A batch
whose store is down is held and retried (``writer.sink_worker``), and nacked
back to the queue only after ``max_hold``; a row the sink rejects for good,
or an undecodable body, goes to ``<queue>.dead``.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from runtime.brokers import BrokerAddresses, describe_url
from runtime.retry import RetryPolicy
from schema.topology import RECEIVED_AT_HEADER
from writer.amqp.consumer import BrokerSession
from writer.batch import DEFAULT_BATCH_MAX_BYTES, Batch, Batcher
from writer.errors import BrokerError, UndecodableMessageError
from writer.holding import DEFAULT_MAX_HELD_BYTES, Holdings, received_epoch
from writer.metrics import WriterMetrics
from writer.retry import DEFAULT_CONNECT_POLICY, DEFAULT_WRITE_POLICY, call_with_retries
from writer.rows import decode_report
from writer.session import Delivery, Session, SessionFactory
from writer.sink import Sink
from writer.sink_worker import DEFAULT_MAX_HOLD, Job, Settlement, SinkWorker

log = logging.getLogger(__name__)

BATCHES_IN_FLIGHT: Final = 2
"""One batch being written and one being filled: the prefetch is this many batches."""
IDLE_POLL_SECONDS: Final = 0.25
LAG_POLL_SECONDS: Final = 5.0
HOLDINGS_POLL_SECONDS: Final = 1.0
UNDECODABLE: Final = "undecodable"
REJECTED: Final = "rejected"


class QueueWriter:
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
        max_hold: float = DEFAULT_MAX_HOLD,
        max_held_bytes: int = DEFAULT_MAX_HELD_BYTES,
    ) -> None:
        """``max_hold`` bounds how long a batch is held through a store outage before it goes back to the
        queue; ``max_held_bytes`` bounds the bodies and rows held (see ``writer.holding``)."""
        self.metrics = metrics or WriterMetrics()
        # Kept across sessions: after a loss, the next connection starts with another node.
        self._brokers = BrokerAddresses.parse(amqp_url)
        self.metrics.declare_nodes(describe_url(url) for url in self._brokers.urls)
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
        self._next_holdings_poll = 0.0
        self._max_hold = max_hold
        self._holdings = Holdings(max_bytes=max_held_bytes)
        self._waiting: deque[Delivery] = deque()
        """Deliveries received and not yet decoded: decoding waits while the byte budget is used up."""
        self._paused = False

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then write what was received, ack it and return.

        Raises:
            BrokerError: RabbitMQ stayed unreachable through the reconnect policy.
            SinkConfigError: the sink cannot work as configured (its batch went back to the queue).
        """
        worker = SinkWorker(
            sink=self._sink, policy=self._write_policy, stop=stop, metrics=self.metrics, max_hold=self._max_hold
        )
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
            url=self._brokers, queue=self._queue, prefetch=self._prefetch, on_delivery=on_delivery, name=self._name
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
        node = describe_url(self._brokers.current)
        self.metrics.connected_to(node)
        log.info(
            "consuming",
            extra={"queue": self._queue, "prefetch": self._prefetch, "sink": self._sink.name, "node": node},
        )
        return session

    def _on_delivery(self, delivery: Delivery) -> None:
        received = received_epoch(delivery.headers.get(RECEIVED_AT_HEADER), default=time.time())
        self._holdings.received(delivery.tag, len(delivery.body), received)
        self._waiting.append(delivery)

    def _decode_waiting(self) -> None:
        """Decode waiting deliveries into batches while the byte budget allows (always one, if nothing is decoded)."""
        while self._waiting and not (self._holdings.over_budget() and self._holdings.decoded > 0):
            delivery = self._waiting.popleft()
            try:
                row = decode_report(
                    delivery.body,
                    received_at_header=delivery.headers.get(RECEIVED_AT_HEADER),
                    content_encoding=delivery.content_encoding,
                )
            except UndecodableMessageError as e:
                self._poison.append((delivery, str(e)))
                continue
            self._holdings.decoded_into(delivery.tag, row.nbytes)
            self._ready.extend(self._batcher.add(delivery, row))

    def _finished(self) -> bool:
        idle = not self._ready and self._in_flight is None and not self._poison and self._batcher.pending == 0
        return self._draining and idle and not self._waiting

    def _session_or_fail(self) -> Session:
        if self._session is None:
            raise BrokerError("RabbitMQ: no session")
        return self._session

    def _step(self, stop: threading.Event, worker: SinkWorker) -> None:
        session = self._session_or_fail()
        if stop.is_set() and not self._draining:
            self._draining = True
            session.cancel()
        session.process(self._timeout())
        self._decode_waiting()
        if self._draining and not self._waiting:
            self._ready.extend(b for b in [self._batcher.flush()] if b is not None)
        self._dead_letter_poison(session)
        self._apply_settlements(session)
        if (batch := self._batcher.due()) is not None:
            self._ready.append(batch)
        if self._in_flight is None and self._ready:
            self._in_flight = Job(self._ready.popleft(), session)
            worker.submit(self._in_flight, self._results)
        self._flow(session)
        self._poll_lag(session)
        self.metrics.held_rows.set(session.unsettled)

    def _flow(self, session: Session) -> None:
        """Pause the consumer while the byte budget is used up; resume once half of it is free."""
        if not self._paused and not self._draining and self._holdings.over_budget():
            session.cancel()
            self._paused = True
            self.metrics.consuming_paused.set(1)
            log.info("holding the byte budget; pausing deliveries", extra={"held_bytes": self._holdings.nbytes})
        elif self._paused and not self._draining and self._holdings.may_resume():
            session.resume()
            self._paused = False
            self.metrics.consuming_paused.set(0)
            log.info("resuming deliveries", extra={"held_bytes": self._holdings.nbytes})
        now = time.monotonic()
        if now >= self._next_holdings_poll:
            self._next_holdings_poll = now + HOLDINGS_POLL_SECONDS
            self.metrics.held_bytes.set(self._holdings.nbytes)
            self.metrics.oldest_report_seconds.set(self._holdings.oldest_age())

    def _timeout(self) -> float:
        deadline = self._batcher.deadline()
        if deadline is None or self._in_flight is not None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(0.0, deadline - time.monotonic()))

    def _dead_letter_poison(self, session: Session) -> None:
        while self._poison:
            delivery, reason = self._poison[0]
            session.dead_letter(delivery, reason)
            self._holdings.settled([delivery.tag])
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
                self._holdings.settled([delivery.tag])
                self.metrics.dead_lettered.labels(REJECTED).inc()
                log.warning("dead-lettered a rejected row", extra={"message_id": delivery.message_id, "reason": reason})
            session.settle(ack=[d.tag for d in settlement.written], requeue=[d.tag for d in settlement.requeue])
            self._holdings.settled(d.tag for d in [*settlement.written, *settlement.requeue])
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
        node = describe_url(self._brokers.current)
        log.warning("lost the RabbitMQ connection", extra={"error": str(error), "node": node})
        self.metrics.connected_to(None)
        self._brokers.lost()
        if self._session is not None:
            self._session.close()
        self._session = None
        # Everything not yet acked is redelivered by the broker; drop the local copies.
        self._batcher.flush()
        self._ready.clear()
        self._poison.clear()
        self._waiting.clear()
        self._holdings.clear()
        self._paused = False
        self.metrics.consuming_paused.set(0)
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
